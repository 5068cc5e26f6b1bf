"""Test support: the pytest plugin (fixtures), pairing helpers and protocol transcripts.

Submodules are imported on demand: pytest loads the plugin in every run.
"""
