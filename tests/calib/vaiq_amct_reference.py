# Reference implementations (numpy) of SPEC.md B (vai_q) and A.1-A.3 (AMCT), written from the SPEC
# and the rules of vai_q_pytorch / AMCT, which produced the expected numbers pasted into
# vaiq_observers_test.cpp, amct_observers_test.cpp and amct_record_test.cpp.
# Run: /usr/bin/python3 tests/calib/vaiq_amct_reference.py   (numpy only; about 10 s)
import numpy as np
import math
f32 = np.float32

M32 = np.uint64(0xFFFFFFFF)
def u(idx):
    # murmur3's 32-bit finaliser of idx * golden ratio: a uniform in [0, 1), multiple of 2^-32
    h = (np.asarray(idx, dtype=np.uint64) * np.uint64(0x9E3779B1)) & M32
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & M32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & M32
    h ^= h >> np.uint64(16)
    return h.astype(np.float64) / 2.0**32

def bell(n, start=0):
    i = np.arange(n, dtype=np.uint64) + np.uint64(start)
    return u(4*i) + u(4*i+1) + u(4*i+2) + u(4*i+3) - 2.0   # [-2, 2]

# ---------------- vai_q ----------------
def first_fix_pos(xmin, xmax, qmin, qmax):
    xmin, xmax = f32(xmin), f32(xmax)
    step = max(xmin / f32(qmin - 0.5), xmax / f32(qmax + 0.5))
    if not step > np.finfo(np.float32).tiny:
        return 18
    return int(np.floor(np.log2(f32(1.0) / f32(step))))

def cap(fp, bits):
    return min(fp, 12 if bits <= 8 else 15)

def raw_sse(x, fp, qmin, qmax):
    s = 2.0 ** -fp
    q = np.clip(np.floor(x / s + 0.5), qmin, qmax) * s    # half_up (ties have no weight here)
    return float(np.sum((x.astype(np.float64) - q) ** 2))

def diffs(x, bits=8, scope=5):
    qmin, qmax = -2**(bits-1), 2**(bits-1)-1
    fp0 = first_fix_pos(x.min(), x.max(), qmin, qmax)
    best, best_sse, sses = fp0, np.finfo(np.float32).max, []
    for fp in range(fp0, fp0 + scope):
        e = raw_sse(x, fp, qmin, qmax); sses.append(e)
        if e < best_sse:
            best, best_sse = fp, e
    return cap(best, bits), fp0, sses

def vaiq_hist(x):
    a = np.abs(x.astype(np.float64))
    amax = a.max()
    h, _ = np.histogram(a, bins=2048, range=(0, amax))
    return h.astype(np.float64), amax

def percentile(h, amax, pct):
    cdf = np.cumsum(h / h.sum())
    idx = np.searchsorted(cdf, pct / 100)
    return idx * amax / 2048

def round_mode(v, mode):
    if mode == 'half_even': return np.round(v)
    if mode == 'half_up': return np.floor(v + 0.5)
    if mode == 'std_round': return np.sign(v) * np.floor(np.abs(v) + 0.5)
    raise ValueError

def mse(h, amax, qmin, qmax, mode):
    centres = ((np.arange(2048) + 0.5) * amax / 2048).astype(np.float32)
    best, best_i = np.inf, None
    for i in range(1536, 2048, 4):
        t = centres[i]
        s = f32(t / f32(qmax))
        q = (np.clip(round_mode(centres / s, mode), qmin, qmax).astype(np.float32) * s).astype(np.float32)
        m = float(np.sum((q.astype(np.float64) - centres) ** 2 * h)) / 2048
        if m < best:
            best, best_i = m, i
    return float(centres[best_i])

def entropy(h, amax, nb):
    bins = h.copy()
    bins[0] = bins[1]
    divs, args = [], []
    for i in range(1536, 2048 + 1, 16):
        space = np.linspace(0, i, num=nb + 1)
        dig = np.digitize(range(i), space) - 1
        dig[bins[:i] == 0] = -1
        ndc = np.zeros(nb)
        cnt = np.zeros(nb)
        for j, d in enumerate(dig):
            if d != -1:
                ndc[d] += bins[j]; cnt[d] += 1
        new = np.zeros(i)
        for j, d in enumerate(dig):
            if d != -1:
                new[j] = ndc[d] / cnt[d]
        ref = bins[:i].copy()
        ref[-1] += bins[i:].sum()
        p = ref / ref.sum(); q = new / new.sum()
        kl = 0.0
        for pj, qj in zip(p, q):
            if pj > 0:
                if qj <= 0:
                    kl = np.inf; break
                kl += pj * math.log(pj / qj)
        divs.append(kl); args.append(i)
    divs = np.array(divs)
    last = len(divs) - 1 - np.argmin(divs[::-1])
    return args[last] * amax / 2048

# ---------------- AMCT ----------------
FLT_EPS = np.finfo(np.float32).eps

def process_scale(s):
    return f32(1.0) if s < FLT_EPS else f32(s)

def ifmr(x, symmetric, bits=8, pmax=0.999999, pmin=0.999999, start=0.7, end=1.3, step=0.01,
         qmin=None, qmax=None):
    x = np.sort(x.astype(np.float32))
    n = len(x)
    if qmin is None: qmin, qmax = -2**(bits-1), 2**(bits-1)-1
    def k_of(p):
        if abs(1 - f32(p)) < FLT_EPS: return 1
        return n - int(np.floor(f32(p) * f32(n)))
    mx = max(f32(0), x[n - k_of(pmax)]); mn = min(f32(0), x[k_of(pmin) - 1])
    start, end, step = f32(start), f32(end), f32(step)
    count = int(f32((end - start) / step + f32(1)))
    dom = mx if abs(mx) > abs(mn) else mn
    lim = f32(qmax) if dom > 0 else f32(-qmin)
    base = f32(abs(dom))
    losses = []
    for i in range(count):
        r = f32(start + f32(i) * step)
        if symmetric:
            hi = f32(r * base); lo = -hi; s = process_scale(f32(hi / lim))
        else:
            hi = f32(r * mx); lo = mn; s = process_scale(f32((hi - lo) / f32(qmax - qmin)))
        c = np.minimum(np.maximum(x, lo), hi)
        v = c / s
        q = (np.sign(v) * np.floor(np.abs(v) + f32(0.5))).astype(np.float32) * s   # std::round
        losses.append(float(np.sum((q.astype(np.float64) - x.astype(np.float64)) ** 2)) / n)
    best = int(np.argmin(losses))
    r = f32(start + f32(best) * step)
    if symmetric:
        return float(process_scale(f32(f32(r * base) / lim))), 0, best, count
    s = process_scale(f32((f32(r * mx) - mn) / f32(qmax - qmin)))
    zp = qmin - int(math.copysign(math.floor(abs(mn / s) + 0.5), mn / s))
    return float(s), zp, best, count

def hfmg_candidates(counts, total):
    n = len(counts)
    step = max(1.0, math.ceil(f32(total) / f32(100000)))
    min_bins = math.ceil(f32(n) / f32(4))
    left, right = 0, n - 1
    out = []
    while right - left > min_bins:
        tl, tr = left, right
        ls = rs = 0.0
        while tl < tr and ls < step:
            ls += counts[tl]; tl += 1
        while tl < tr and rs < step:
            rs += counts[tr]; tr -= 1
        if right - tr >= tl - left: right = tr
        else: left = tl
        out.append((left, right))
    return out

def hfmg_loss(counts, bw, left, right, dst):
    dw = bw * (right - left + 1) / dst
    half = dw / 2
    j = np.arange(len(counts), dtype=np.float64)
    b0 = (j - left) * bw; b1 = b0 + bw
    bi = np.clip(np.floor(b0 / dw), 0, dst - 1); ei = np.clip(np.floor(b1 / dw), 0, dst - 1)
    d = counts / bw
    cb = bi * dw + half; ce = ei * dw + half
    norm = lambda a, b: d * (b**3 - a**3) / 3
    same = norm(b0 - cb, b1 - cb)
    diff = norm(b0 - cb, half) + (ei - bi - 1) * norm(-half, half) + norm(-half, b1 - ce)
    return float(np.sum(np.where(bi == ei, same, diff)))

def amct_scale_offset(cmin, cmax, symmetric, qmin, qmax):
    if not symmetric:
        hi, lo = max(cmax, 0.0), min(cmin, 0.0)
        s = process_scale(f32((hi - lo) / (qmax - qmin)))
        v = lo / float(s)
        return float(s), qmin - int(math.copysign(math.floor(abs(v) + 0.5), v))
    m = cmax if abs(cmax) > abs(cmin) else cmin
    s = process_scale(f32(m / qmax if m > 0 else -m / -qmin))
    return float(s), 0

def hfmg(x, nbins, symmetric, bits=8, qmin=None, qmax=None):
    if qmin is None: qmin, qmax = -2**(bits-1), 2**(bits-1)-1
    x = x.astype(np.float64)
    lo, hi = x.min(), x.max()
    counts, _ = np.histogram(x, bins=nbins, range=(lo, hi))
    counts = counts.astype(np.float64)
    bw = (hi - lo) / nbins
    cands = hfmg_candidates(counts, len(x))
    losses = [hfmg_loss(counts, bw, l, r, qmax - qmin + 1) for l, r in cands]
    b = int(np.argmin(losses))
    l, r = cands[b]
    cmin, cmax = lo + l * bw, lo + (r + 1) * bw
    s, zp = amct_scale_offset(cmin, cmax, symmetric, qmin, qmax)
    return s, zp, (l, r), cmin, cmax, len(cands)


# ---------------- the test data and their expected numbers ----------------
def body_and_tail(tail):
    body = (2 * u(np.arange(50000)) - 1) * 0.8
    t = u(np.arange(tail) + 10**6); t = t * t
    return np.concatenate([body, 0.8 + 0.2 * t, [1.0]]).astype(np.float32)

def heavy_tail(n):
    t = u(np.arange(n) + 777)
    return np.concatenate([0.001 * t / (1.001 - t), [0.0, 1.0]]).astype(np.float32)

if __name__ == '__main__':
    print('== vai_q percentile / mse / entropy (body_and_tail) ==')
    for tail in [300, 30]:
        h, amax = vaiq_hist(body_and_tail(tail))
        for p in [99.99, 99.0, 90.0]:
            print(tail, 'percentile', p, percentile(h, amax, p))
        for m in ['half_even', 'half_up', 'std_round']:
            print(tail, 'mse', m, 'int8', mse(h, amax, -128, 127, m), 'int4', mse(h, amax, -8, 7, m),
                  'uint8', mse(h, amax, 0, 255, m))
        print(tail, 'entropy int8', entropy(h, amax, 128), 'uint8', entropy(h, amax, 256),
              'int4', entropy(h, amax, 8))
    print('== vai_q diffs: (capped fix_pos, fp0, SSE per candidate) ==')
    outlier = np.concatenate([(2 * u(np.arange(100000)) - 1), [10.0]]).astype(np.float32)
    b15 = (bell(20000) * 1.5).astype(np.float32)
    tiny = (bell(20000) * 0.001).astype(np.float32)
    print('outlier', diffs(outlier))
    print('bell 8 bits', diffs(b15), '4 bits', diffs(b15, bits=4))
    print('tiny 8 bits', diffs(tiny)[0], '16 bits', diffs(tiny, bits=16)[0])
    print('per-channel bell(100001)*1.5', diffs((bell(100001) * 1.5).astype(np.float32)))
    print('== IFMR: (scale, zero_point, best candidate, candidates) ==')
    x = np.concatenate([bell(1000) * 0.5, [-1.5]]).astype(np.float32)
    xp = np.concatenate([bell(1000) * 0.5, [1.5]]).astype(np.float32)
    print('sym, min dominates', ifmr(x, True))
    print('sym, max dominates', ifmr(xp, True))
    print('asym int8', ifmr(x, False), 'uint8', ifmr(x, False, qmin=0, qmax=255))
    print('sym 0.99', ifmr(x, True, pmax=0.99, pmin=0.99))
    print('asym 0.99/0.98', ifmr(x, False, pmax=0.99, pmin=0.98))
    print('sym 4 bits', ifmr(x, True, bits=4))
    print('sym [0.5, 1.0] step 0.1', ifmr(x, True, start=0.5, end=1.0, step=0.1))
    xc = (bell(1000, start=5000) * 0.5).astype(np.float32)
    print('per-channel asym', ifmr(xc[0::2], False), ifmr(xc[1::2], False))
    print('== HFMG: (scale, zero_point, (left, right), clip_min, clip_max, candidates) ==')
    tail = heavy_tail(50000)
    for bits in [8, 4]:
        print('heavy tail 4096', bits, 'asym', hfmg(tail, 4096, False, bits=bits))
        print('heavy tail 4096', bits, 'sym', hfmg(tail, 4096, True, bits=bits))
    b = np.concatenate([bell(30000) * 0.5, [-1.0, 1.0]]).astype(np.float32)
    print('bell 2048 asym', hfmg(b, 2048, False), 'uint8', hfmg(b, 2048, False, qmin=0, qmax=255))
    print('bell 2048 sym', hfmg(b, 2048, True))
    print('bell 2048 int4 asym', hfmg(b, 2048, False, bits=4))
    print('bell 1024 int4 sym', hfmg(b, 1024, True, bits=4))
    ch0 = heavy_tail(30000)
    print('per-channel 1024 asym', hfmg(ch0, 1024, False)[:2], hfmg(b, 1024, False)[:2])
    print('per-channel 1024 int4 sym', hfmg(ch0, 1024, True, bits=4)[:2], hfmg(b, 1024, True, bits=4)[:2])
