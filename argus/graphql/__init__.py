"""GraphQL: schema, types, root resolvers, the selection walker, the engine (parse cache,
compiled or graphql-core execution) and the compiled path.

It may import ``data`` and the kernel; never ``policy`` or ``http``.
"""
