"""Browserplane's shared runtime: settings, logging, gRPC server set-up and the generated stubs.

Every component imports from here; nothing here imports a component.
"""

__version__ = "0.1.0"
