"""One packed write per Redis round, replies parsed in bulk (``fastpipe``)."""
