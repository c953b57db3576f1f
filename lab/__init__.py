"""Measuring tools, apart from the product: tiny models built offline (`yo tiny-model`), the
toy world and its pretrained stand-in, `yo eval` and the CLIP score. The product never imports
this package while it serves; the command line loads it for its own verbs (and `yo run --smoke`).
"""
