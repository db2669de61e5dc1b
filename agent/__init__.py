"""Dropwarden: data-leak monitoring agent for Linux file servers."""

__version__ = "0.1.0"
