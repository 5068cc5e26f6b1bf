"""The ``keybridge`` command line: thin click commands over the library."""
