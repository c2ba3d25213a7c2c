"""The domain's core: what a request carries (profile, history, filters, context), the columnar
candidate set stages pass on, the serving catalog, and the defaults every layer shares.

It imports only the data loaders (taxonomy, gazetteer) and the catalog schema below it: the
simulator, the stages and the service all build on these types, never the other way round.
"""
