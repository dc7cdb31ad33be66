"""The tier policy of one request, through one entry (``policy.Policy.admit``): who calls
(auth, api_keys), what their tier allows (tiers, limits, cost, budget), how long an answer
may be cached (cache_hints) and persisted queries (apq).

It may import ``graphql``, ``data`` and the kernel; never ``http``.
"""
