"""Every statement and expression form libcst has a node for (tests/test_model_shortcuts.py walks it)."""
import a.b as c
from . import d
from .e import (f as g, h)


@dec(1)
@dec2
async def fn(p, /, q: int = 1, *args: str, r, s=2, **kw) -> "R":
    """Doc."""
    global G
    async for i in aiter():
        pass
    else:
        pass
    async with m() as (x, y), n():
        await z
    try:
        pass
    except (E, F) as err:
        raise X from err
    else:
        pass
    finally:
        del x, y[0], y.z
    try:
        pass
    except* G as eg:
        pass
    match v:
        case [1, *rest] if rest:
            pass
        case {"k": w, **more}:
            pass
        case Point(x=0, y=yy) | Other(y=yy) as alias:
            pass
        case _:
            pass
    lst = [e async for e in gen() if e for f2 in e]
    dct = {k: v2 for k, v2 in items}
    st = {*a1, *b1}
    gn = (q for q in r if q)
    lam = lambda u, *w, k=1, **kk: u + k
    t: int = (await one())
    n2 = (w := 3)
    s3 = a1[1:2:3, ...]
    f4 = f"{x!r:>{width}} {y}"
    cmp = 1 < x <= 3 and not y or -z
    cond = x if y else z
    aug = 1
    aug += 2
    assert x, "msg"
    print(*args, **kw, sep="")
    return c.d.e[0](1)(2)


class K(Base, metaclass=M, **extra):
    x: int
    y = 1

    @property
    def p(self):
        nonlocal_q = 1
        def inner():
            nonlocal nonlocal_q
            nonlocal_q += 1
        return inner


while x:
    break
else:
    continue_ = 1
for a5, (b5, *c5) in pairs:
    continue
with open(f) as fh:
    pass
if x:
    pass
elif y:
    pass
else:
    pass
