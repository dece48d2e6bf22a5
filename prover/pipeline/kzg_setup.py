"""A KZG setup from a public secret, written as halo2's SRS file: the same bytes on every machine.

A vk depends on the SRS it was made with, and a dev SRS is random per machine (ezkl's
gen_srs draws a fresh secret), so a vk hash recorded on one machine could never be
reproduced on another. The public ceremony files would do, but a build must work
offline. So published records (`prover build NAME --publish`) make their vk with this
setup: its secret tau is derived from a fixed string, which makes the file a pure
function of k and anyone able to forge proofs against keys made with it. It identifies
a circuit; it must never back a deployed verifier.

The file layout is halo2's ParamsKZG in its raw form (checked against ezkl's own files
in tests/test_reproducible.py): k as a little-endian u32; the 2^k points [tau^i]G1; the
2^k Lagrange points [L_i(tau)]G1 over the 2^k-th roots of unity; G2; [tau]G2. Every
coordinate is 32 little-endian bytes in Montgomery form. Pure Python integers: 2^(k+1)
fixed-base multiplications, about a second for k=10, cached by the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

#: BN254's base field and scalar field
P = 21888242871839275222246405745257275088696311157297823662689037894645226208583
R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
MONTGOMERY = (1 << 256) % P
TWO_ADICITY = 28  # R - 1 = t * 2^28 with t odd
MULTIPLICATIVE_GENERATOR = 7  # halo2curves' Fr::MULTIPLICATIVE_GENERATOR
G1 = (1, 2)
G2 = (
    (
        0x1800DEEF121F1E76426A00665E5C4479674322D4F75EDADD46DEBD5CD992F6ED,
        0x198E9393920D483A7260BFB731FB5D25F1AA493335A9E71297E485B7AEF312C2,
    ),
    (
        0x12C85EA5DB8C6DEB4AAB71808DCB408FE3D1E7690C43D37B4CE6CC0166FA7DAA,
        0x090689D0585FF075EC9E99AD690C3395BC4B313370B38EF355ACDADCD122975B,
    ),
)
#: where tau comes from: public on purpose (see the module docstring)
TAU_LABEL = b"zkml-prover reference SRS v1: tau is public, keys made with it prove nothing"
WINDOW_BITS = 8

Affine = tuple[int, int]
Jacobian = tuple[int, int, int]
Fq2 = tuple[int, int]


def tau() -> int:
    return int.from_bytes(hashlib.sha256(TAU_LABEL).digest(), "big") % R


def root_of_unity(k: int) -> int:
    """The generator of the 2^k-th roots of unity halo2 uses for its evaluation domain."""
    root = pow(MULTIPLICATIVE_GENERATOR, (R - 1) >> TWO_ADICITY, R)
    return pow(root, 1 << (TWO_ADICITY - k), R)


def _double(point: Jacobian) -> Jacobian:
    x, y, z = point
    a, b = x * x % P, y * y % P
    c = b * b % P
    d = 2 * ((x + b) ** 2 - a - c) % P
    e = 3 * a % P
    x3 = (e * e - 2 * d) % P
    return x3, (e * (d - x3) - 8 * c) % P, 2 * y * z % P


def _add_affine(point: Jacobian | None, other: Affine) -> Jacobian | None:
    """point + other (mixed Jacobian-affine addition on y^2 = x^3 + 3); None is infinity."""
    if point is None:
        return other[0], other[1], 1
    x1, y1, z1 = point
    zz = z1 * z1 % P
    h = (other[0] * zz - x1) % P
    r = (other[1] * z1 * zz - y1) % P
    if h == 0:
        return _double(point) if r == 0 else None
    hh = h * h % P
    hhh = h * hh % P
    v = x1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    return x3, (r * (v - x3) - y1 * hhh) % P, z1 * h % P


def _to_affine(points: list[Jacobian]) -> list[Affine]:
    """Batch normalisation: one field inversion for all points (Montgomery's trick)."""
    prefix, running = [], 1
    for _, _, z in points:
        prefix.append(running)
        running = running * z % P
    inverse = pow(running, -1, P)
    result: list[Affine] = [(0, 0)] * len(points)
    for index in range(len(points) - 1, -1, -1):
        x, y, z = points[index]
        z_inv = inverse * prefix[index] % P
        inverse = inverse * z % P
        zz = z_inv * z_inv % P
        result[index] = (x * zz % P, y * zz * z_inv % P)
    return result


def _window_table() -> list[list[Affine]]:
    """table[w][d - 1] = d * 2^(8w) * G1: each multiplication is then 32 additions."""
    table: list[list[Affine]] = []
    base = G1
    for _ in range(256 // WINDOW_BITS + 1):
        row: list[Jacobian] = [(base[0], base[1], 1)]
        for _ in range((1 << WINDOW_BITS) - 1):  # up to 256 * base, the next window's base
            following = _add_affine(row[-1], base)
            assert following is not None
            row.append(following)
        affine = _to_affine(row)
        table.append(affine[:-1])
        base = affine[-1]
    return table


def g1_multiples(scalars: Iterable[int]) -> list[Affine]:
    """[s]G1 for each scalar (each nonzero mod R)."""
    table = _window_table()
    mask = (1 << WINDOW_BITS) - 1
    points = []
    for scalar in scalars:
        acc: Jacobian | None = None
        window, rest = 0, scalar % R
        while rest:
            digit = rest & mask
            if digit:
                acc = _add_affine(acc, table[window][digit - 1])
            rest >>= WINDOW_BITS
            window += 1
        assert acc is not None, "a zero scalar"
        points.append(acc)
    return _to_affine(points)


def _fq2_mul(a: Fq2, b: Fq2) -> Fq2:
    return (a[0] * b[0] - a[1] * b[1]) % P, (a[0] * b[1] + a[1] * b[0]) % P  # i^2 = -1


def _fq2_inv(a: Fq2) -> Fq2:
    norm = pow(a[0] * a[0] + a[1] * a[1], -1, P)
    return a[0] * norm % P, -a[1] * norm % P


def _g2_add(a: tuple[Fq2, Fq2] | None, b: tuple[Fq2, Fq2] | None) -> tuple[Fq2, Fq2] | None:
    """Affine addition on the twist (only one multiplication is needed, so no speed-ups)."""
    if a is None or b is None:
        return b if a is None else a
    (x1, y1), (x2, y2) = a, b
    if x1 == x2:
        if (y1[0] + y2[0]) % P == 0 and (y1[1] + y2[1]) % P == 0:
            return None
        x1x1 = _fq2_mul(x1, x1)
        slope = _fq2_mul((3 * x1x1[0], 3 * x1x1[1]), _fq2_inv((2 * y1[0], 2 * y1[1])))
    else:
        slope = _fq2_mul((y2[0] - y1[0], y2[1] - y1[1]), _fq2_inv((x2[0] - x1[0], x2[1] - x1[1])))
    ss = _fq2_mul(slope, slope)
    x3 = ((ss[0] - x1[0] - x2[0]) % P, (ss[1] - x1[1] - x2[1]) % P)
    t = _fq2_mul(slope, (x1[0] - x3[0], x1[1] - x3[1]))
    return x3, ((t[0] - y1[0]) % P, (t[1] - y1[1]) % P)


def g2_multiple(scalar: int) -> tuple[Fq2, Fq2]:
    """[s]G2, double and add (the setup needs one: [tau]G2)."""
    result: tuple[Fq2, Fq2] | None = None
    addend: tuple[Fq2, Fq2] | None = G2
    while scalar:
        if scalar & 1:
            result = _g2_add(result, addend)
        addend = _g2_add(addend, addend)
        scalar >>= 1
    assert result is not None
    return result


def _encode(*coordinates: int) -> bytes:
    return b"".join((c * MONTGOMERY % P).to_bytes(32, "little") for c in coordinates)


def srs_bytes(k: int) -> bytes:
    """The whole SRS file for 2^k rows (see the module docstring for the layout)."""
    secret, n = tau(), 1 << k
    omega = root_of_unity(k)
    powers = [pow(secret, i, R) for i in range(n)]
    vanishing = (pow(secret, n, R) - 1) * pow(n, -1, R) % R
    lagrange = []
    for i in range(n):
        w_i = pow(omega, i, R)
        lagrange.append(vanishing * w_i * pow(secret - w_i, -1, R) % R)
    g = g1_multiples(powers)
    g_lagrange = g1_multiples(lagrange)
    (sx, sy) = g2_multiple(secret)
    parts = [k.to_bytes(4, "little")]
    parts += [_encode(*point) for point in g]
    parts += [_encode(*point) for point in g_lagrange]
    parts.append(_encode(G2[0][0], G2[0][1], G2[1][0], G2[1][1]))
    parts.append(_encode(sx[0], sx[1], sy[0], sy[1]))
    return b"".join(parts)
