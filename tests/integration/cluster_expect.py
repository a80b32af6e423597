"""
cluster_expect.py - peer clusters (kind x settlement x size band) recomputed for the tests,
independently of the server: the size bands as README.md and api/openapi.yaml state them,
the organizations' settlement and students read raw from the database, and the groups of
GET /aggregates by cluster (and by settlement, size band, kind, municipality) from the
scores that ScoresWorld.expected_scores recomputes with Decimal arithmetic.
"""
from test_scores import LEVELS, quantile, r2

SETTLEMENT_ORDER = ('urban', 'rural')
BAND_ORDER = ('small', 'medium', 'large')
CLUSTER_PARTS = ('kind', 'settlement', 'size_band')


def size_band(kind, students):
    """preschool: small < 50, medium 50-199, large >= 200; any other kind: small < 100,
    medium 100-499, large >= 500."""
    small, large = (50, 200) if kind == 'preschool' else (100, 500)
    if students < small:
        return 'small'
    return 'medium' if students < large else 'large'


def org_places(world):
    """{organization id: (settlement, students)} as the organizations table has them now."""
    return {int(i): (st, int(n)) for i, st, n in world.rows(
        'SELECT id, settlement, students FROM organizations')}


def with_clusters(world, scores):
    """The expected scores with each submission's settlement, size_band and cluster key."""
    places = org_places(world)
    out = {}
    for sid, s in scores.items():
        st, n = places[s['org']]
        band = size_band(s['kind'], n)
        out[sid] = dict(s, settlement=st, size_band=band,
                        cluster='%s/%s/%s' % (s['kind'], st, band))
    return out


def _key_of(s, groups):
    return tuple(s['muni'] if g == 'municipality' else s[g] for g in groups)


def expected_groups(world, camp, prev, groups, keep=lambda s: True, counted=('approved',)):
    """{group key: the group object as GET /aggregates (not public) answers it} for groups
    among municipality, cluster, kind, settlement, size_band (no direction, no level)."""
    cur = with_clusters(world, world.expected_scores(camp))
    old = with_clusters(world, world.expected_scores(prev)) if prev else {}
    members, before = {}, {}
    for s in cur.values():
        if keep(s):
            members.setdefault(_key_of(s, groups), []).append(s)
    for s in old.values():
        if keep(s):
            before.setdefault(_key_of(s, groups), []).append(s)
    out = {}
    for key, subs in members.items():
        first = subs[0]
        g = {}
        if 'municipality' in groups:
            g['municipality_id'] = first['muni']
            g['municipality_name'] = world.sql('SELECT name FROM municipalities WHERE id = %d'
                                               % first['muni'])
        if 'cluster' in groups:
            g['cluster'] = first['cluster']
        for part in CLUSTER_PARTS:
            if part in groups or 'cluster' in groups:
                g[part] = first[part]
        scored = [s for s in subs if s['status'] in counted and s['total'] is not None]
        vals = sorted(s['total'] for s in scored)
        g.update(expected=len(subs),
                 submitted=sum(1 for s in subs
                               if s['status'] in ('submitted', 'verified', 'approved')),
                 submitted_on_time=sum(1 for s in subs if s['on_time']),
                 approved=sum(1 for s in subs if s['status'] == 'approved'),
                 count=len(vals))
        if vals:
            g.update(mean=r2(sum(vals) / len(vals)), median=r2(quantile(vals, '0.5')),
                     q1=r2(quantile(vals, '0.25')), q3=r2(quantile(vals, '0.75')),
                     min=vals[0], max=vals[-1])
        else:
            g.update(mean=None, median=None, q1=None, q3=None, min=None, max=None)
        g['levels'] = {lvl: sum(1 for s in scored if s['level'] == lvl) for lvl in LEVELS}
        pvals = [s['total'] for s in before.get(key, [])
                 if s['status'] in counted and s['total'] is not None]
        g['mean_previous'] = r2(sum(pvals) / len(pvals)) if pvals else None
        g['mean_change'] = (g['mean'] - g['mean_previous']) \
            if g['mean'] is not None and g['mean_previous'] is not None else None
        g['suppressed'] = None
        out[key] = g
    return out


def server_order(groups_by_key, groups, muni_names=None):
    """The groups as a list in the order GET /aggregates gives them: municipality name,
    kind, settlement (urban first), size band (small first)."""
    def sort_key(item):
        g = item[1]
        return (g.get('municipality_name', ''), g.get('kind', ''),
                SETTLEMENT_ORDER.index(g['settlement']) if 'settlement' in g else -1,
                BAND_ORDER.index(g['size_band']) if 'size_band' in g else -1)
    return [g for _, g in sorted(groups_by_key.items(), key=sort_key)]
