"""Simulated Hideez-style key: an I/O-free firmware core and the links around it."""
