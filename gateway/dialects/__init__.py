"""One module per vendor HTTP dialect. Each only translates: HTTP in, gRPC out, HTTP back."""
