"""The request path: a context, columnar candidates, and the ordered list of stages."""
