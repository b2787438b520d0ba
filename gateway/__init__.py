"""The gateway: vendor HTTP dialects translated into gRPC, and the public CDP endpoint."""
