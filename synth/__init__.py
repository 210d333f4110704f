"""Synthetic data: MAGA genre–audience reformulation (``maga``) through LM backends (``backends``).

``maga`` is pure logic over a ``Backend`` passed in; ``backends`` holds the OpenAI-compatible HTTP
client and the in-process transformers runner. The Beam wrapping lives in ``transforms``, the recipe section in ``config``.
"""
