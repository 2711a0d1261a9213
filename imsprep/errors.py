"""Errors the user can act on. The CLI prints them as one line and exits 2, never a traceback."""


class UserError(Exception):
    """Bad input or an environment problem the user can fix (message says how)."""


class ParseError(ValueError):
    """A guest file or image could not be understood (named in the message)."""
