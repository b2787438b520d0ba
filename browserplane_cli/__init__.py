"""The `browserplane` command: starts the components; holds no logic a component should own."""
