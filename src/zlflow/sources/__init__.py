"""Readers that turn source files into normalized frames, one per raw warehouse table."""
