"""The HTTP layer: the ASGI app, GraphQL over HTTP, REST, middleware and the uvicorn server.

It may import every layer below it: ``policy``, ``graphql``, ``data`` and the kernel.
"""
