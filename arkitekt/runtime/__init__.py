"""The runtime on top of the generated API: nodes from signatures, the agent, the caller.

Layers import downward only: `runtime` uses `api`, `transport`, `errors`; never the server.
"""
