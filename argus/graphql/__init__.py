"""The GraphQL engine: schema, types, root resolvers, the selection walker and the compiled path.

It may import ``data`` and the kernel; never ``policy`` or ``http``.
"""
