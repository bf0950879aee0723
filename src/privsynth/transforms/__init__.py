"""Reversible column transforms. Each module learns a small JSON-able state from one column and maps
values to the engines' currency and back with pure functions of (values, state, rng):

- `numeric`: numbers (and datetimes as seconds) to uniform scores u in (0, 1) via the empirical CDF;
- `categorical`: categories (and booleans) to integer codes, rare ones merged into an "other" code.

`encoder` assembles them over a whole table and models missing values as extra binary variables.
"""
