#!/usr/bin/python3
"""
test_authz_matrix.py - the authorization matrix: every route of `effmond routes` x every
role (and anonymous) x (in scope / out of scope, for routes on one scoped object), with the
expected status, executed against a running daemon with real fixture objects.

In scope: the object lies in the caller's region / municipality / organization (region A,
municipality A1, organization A1). Out of scope: the same kind of object in region B.
Expected: a role the route does not allow -> 403 (anonymous -> 401); allowed but out of
scope -> 404, exactly like a missing object; allowed and in scope -> 200/201, with a valid
body and the current ETag as If-Match, on fresh objects where a rerun would conflict.
Every cell also checks the audit trail: a successful write adds exactly one audit_events
row (found by the cell's X-Request-Id; a bulk write one per object it makes, AUDIT_ROWS),
anything else adds none, and a refused write leaves the object's version alone (a deleted
object is gone).

The world is monitoring_fixtures.World: the registry world plus open campaigns in A and B,
draft campaigns, and one attestation, recommendation, decision, roadmap and milestone per
side. A write cell takes the object in the state from which its role has a legal move
(a head submits its own filled draft, a municipal operator verifies, a regional operator
approves; a municipal operator revokes and changes what it issued itself).
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem  # noqa: E402
import monitoring_fixtures as mf  # noqa: E402
from registry_fixtures import API, PASSWORD, TODAY  # noqa: E402

# The columns of MATRIX, in order.
COLUMNS = ('admin', 'regional_operator', 'municipal_operator', 'head', 'expert', 'portal',
           'anonymous')

# One row per route: method, pattern, then the expected status for each column.
# A pair (in scope, out of scope) for a route on one object of a scoped resource;
# a single status for collections, global catalogs and public routes.
ANON = 401
MATRIX = [
    # method  pattern                                  admin       regional    municipal   head        expert      portal      anonymous
    ('GET',   '/healthz',                              200,        200,        200,        200,        200,        200,        200),
    ('GET',   '/readyz',                               200,        200,        200,        200,        200,        200,        200),
    ('GET',   '/metrics',                              200,        200,        200,        200,        200,        200,        200),
    ('GET',   '/api/v1/openapi.yaml',                  200,        200,        200,        200,        200,        200,        200),
    ('GET',   '/docs',                                 200,        200,        200,        200,        200,        200,        200),
    ('POST',  '/api/v1/auth/token',                    200,        200,        200,        200,        200,        200,        200),
    ('GET',   '/api/v1/auth/me',                       200,        200,        200,        200,        200,        200,        ANON),

    ('GET',   '/api/v1/users',                         200,        200,        200,        403,        403,        403,        ANON),
    ('POST',  '/api/v1/users',                         201,        201,        201,        403,        403,        403,        ANON),
    ('GET',   '/api/v1/users/{id}',                    (200, 200), (200, 404), (200, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('PATCH', '/api/v1/users/{id}',                    (200, 200), (200, 404), (200, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),

    ('GET',   '/api/v1/regions',                       200,        200,        200,        200,        200,        200,        ANON),
    ('POST',  '/api/v1/regions',                       201,        403,        403,        403,        403,        403,        ANON),
    ('GET',   '/api/v1/regions/{id}',                  (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (200, 404), (ANON, ANON)),
    ('PATCH', '/api/v1/regions/{id}',                  (200, 200), (403, 403), (403, 403), (403, 403), (403, 403), (403, 403), (ANON, ANON)),

    ('GET',   '/api/v1/municipalities',                200,        200,        200,        200,        200,        200,        ANON),
    ('POST',  '/api/v1/municipalities',                201,        201,        403,        403,        403,        403,        ANON),
    ('GET',   '/api/v1/municipalities/{id}',           (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (200, 404), (ANON, ANON)),
    ('PATCH', '/api/v1/municipalities/{id}',           (200, 200), (200, 404), (403, 403), (403, 403), (403, 403), (403, 403), (ANON, ANON)),

    ('GET',   '/api/v1/organizations',                 200,        200,        200,        200,        200,        200,        ANON),
    ('POST',  '/api/v1/organizations',                 201,        201,        201,        403,        403,        403,        ANON),
    ('GET',   '/api/v1/organizations/{id}',            (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (200, 404), (ANON, ANON)),
    ('PATCH', '/api/v1/organizations/{id}',            (200, 200), (200, 404), (200, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),

    ('GET',   '/api/v1/directions',                    200,        200,        200,        200,        200,        200,        ANON),
    ('GET',   '/api/v1/directions/{id}',               200,        200,        200,        200,        200,        200,        ANON),

    ('GET',   '/api/v1/competencies',                  200,        200,        200,        200,        200,        200,        ANON),
    ('POST',  '/api/v1/competencies',                  201,        403,        403,        403,        403,        403,        ANON),
    ('GET',   '/api/v1/competencies/{id}',             200,        200,        200,        200,        200,        200,        ANON),
    ('PATCH', '/api/v1/competencies/{id}',             200,        403,        403,        403,        403,        403,        ANON),

    ('GET',   '/api/v1/managers',                      200,        200,        200,        200,        200,        403,        ANON),
    ('POST',  '/api/v1/managers',                      201,        201,        201,        403,        403,        403,        ANON),
    ('GET',   '/api/v1/managers/{id}',                 (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('PATCH', '/api/v1/managers/{id}',                 (200, 200), (200, 404), (200, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/managers/{id}/appointments',    (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/managers/{id}/appointments',    (201, 201), (201, 404), (201, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/managers/{id}/dismissal',       (200, 200), (200, 404), (200, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),

    ('GET',   '/api/v1/reserve',                       200,        200,        200,        403,        200,        403,        ANON),
    ('POST',  '/api/v1/reserve',                       201,        201,        201,        403,        403,        403,        ANON),
    ('GET',   '/api/v1/reserve/{id}',                  (200, 200), (200, 404), (200, 404), (403, 403), (200, 404), (403, 403), (ANON, ANON)),
    ('PATCH', '/api/v1/reserve/{id}',                  (200, 200), (200, 404), (200, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/reserve/{id}/transitions',      (200, 200), (200, 404), (200, 404), (403, 403), (200, 404), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/reserve/{id}/transitions',      (200, 200), (200, 404), (200, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),

    ('GET',   '/api/v1/audit',                         200,        200,        403,        403,        403,        403,        ANON),

    # Monitoring: campaigns and catalogs, imports, submissions, scores.
    ('GET',   '/api/v1/campaigns',                     200,        200,        200,        200,        200,        200,        ANON),
    ('POST',  '/api/v1/campaigns',                     201,        201,        403,        403,        403,        403,        ANON),
    ('GET',   '/api/v1/campaigns/{id}',                (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (200, 404), (ANON, ANON)),
    ('PATCH', '/api/v1/campaigns/{id}',                (200, 200), (200, 404), (403, 403), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/campaigns/{id}/transitions',    (200, 200), (200, 404), (403, 403), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/campaigns/{id}/indicators',     (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (200, 404), (ANON, ANON)),
    ('POST',  '/api/v1/campaigns/{id}/indicators',     (201, 201), (201, 404), (403, 403), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/campaigns/{id}/lint',           (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (200, 404), (ANON, ANON)),
    ('GET',   '/api/v1/indicators/{id}',               (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (200, 404), (ANON, ANON)),
    ('PATCH', '/api/v1/indicators/{id}',               (200, 200), (200, 404), (403, 403), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('DELETE', '/api/v1/indicators/{id}',              (204, 204), (204, 404), (403, 403), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/campaigns/{id}/imports',        (200, 200), (200, 404), (403, 403), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/campaigns/{id}/imports',        (201, 201), (201, 404), (403, 403), (403, 403), (403, 403), (403, 403), (ANON, ANON)),

    ('GET',   '/api/v1/submissions',                   200,        200,        200,        200,        200,        403,        ANON),
    ('GET',   '/api/v1/submissions/{id}',              (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('PUT',   '/api/v1/submissions/{id}/values',       (200, 200), (200, 404), (200, 404), (200, 404), (403, 403), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/submissions/{id}/transitions',  (200, 200), (200, 404), (200, 404), (200, 404), (403, 403), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/submissions/{id}/history',      (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),

    ('GET',   '/api/v1/campaigns/{id}/scores',         (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/campaigns/{id}/outliers',       (200, 200), (200, 404), (200, 404), (403, 403), (200, 404), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/campaigns/{id}/calibration',    (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/campaigns/{id}/simulations',    (201, 201), (201, 404), (201, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/campaigns/{id}/simulations',    (200, 200), (200, 404), (200, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/campaigns/{id}/cycle-report',   (200, 200), (200, 404), (200, 404), (403, 403), (200, 404), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/campaigns/{id}/warnings',       (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/managers/{id}/scores',          (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/aggregates',                    200,        200,        200,        403,        200,        200,        ANON),
    ('GET',   '/api/v1/public/aggregates',             200,        200,        200,        200,        200,        200,        200),

    # The management cycle: attestations, recommendations, decisions, roadmaps.
    ('GET',   '/api/v1/attestations',                  200,        200,        200,        200,        200,        403,        ANON),
    ('POST',  '/api/v1/attestations',                  201,        201,        403,        403,        201,        403,        ANON),
    ('GET',   '/api/v1/attestations/{id}',             (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('PATCH', '/api/v1/attestations/{id}',             (200, 200), (200, 404), (403, 403), (403, 403), (200, 404), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/managers/{id}/attestations',    (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),

    ('GET',   '/api/v1/recommendations',               200,        200,        200,        200,        200,        403,        ANON),
    ('POST',  '/api/v1/recommendations',               201,        201,        201,        403,        403,        403,        ANON),
    ('GET',   '/api/v1/recommendations/{id}',          (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('PATCH', '/api/v1/recommendations/{id}',          (200, 200), (200, 404), (200, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/recommendations/{id}/transitions', (200, 200), (200, 404), (200, 404), (200, 404), (403, 403), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/recommendations/{id}/history',  (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/campaigns/{id}/recommendation-drafts', (200, 200), (200, 404), (403, 403), (403, 403), (403, 403), (403, 403), (ANON, ANON)),

    ('GET',   '/api/v1/decisions',                     200,        200,        200,        200,        200,        403,        ANON),
    ('POST',  '/api/v1/decisions',                     201,        201,        201,        403,        403,        403,        ANON),
    ('GET',   '/api/v1/decisions/{id}',                (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/decisions/{id}/revoke',         (201, 201), (201, 404), (201, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),

    ('GET',   '/api/v1/roadmaps',                      200,        200,        200,        200,        200,        403,        ANON),
    ('POST',  '/api/v1/roadmaps',                      201,        201,        201,        403,        403,        403,        ANON),
    ('GET',   '/api/v1/roadmaps/{id}',                 (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('PATCH', '/api/v1/roadmaps/{id}',                 (200, 200), (200, 404), (200, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/roadmaps/{id}/milestones',      (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/roadmaps/{id}/milestones',      (201, 201), (201, 404), (201, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/milestones',                    200,        200,        200,        200,        200,        403,        ANON),
    ('GET',   '/api/v1/milestones/{id}',               (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('PATCH', '/api/v1/milestones/{id}',               (200, 200), (200, 404), (200, 404), (200, 404), (403, 403), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/milestones/{id}/transitions',   (200, 200), (200, 404), (200, 404), (200, 404), (403, 403), (403, 403), (ANON, ANON)),
    ('GET',   '/api/v1/milestones/{id}/participants',  (200, 200), (200, 404), (200, 404), (200, 404), (200, 404), (403, 403), (ANON, ANON)),
    ('POST',  '/api/v1/milestones/{id}/participants',  (201, 201), (201, 404), (201, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
    ('DELETE', '/api/v1/milestones/{id}/participants/{manager_id}', (204, 204), (204, 404), (204, 404), (403, 403), (403, 403), (403, 403), (ANON, ANON)),
]  # noqa: E501

# Routes on one object that has no territory: one column, nothing is out of scope.
GLOBAL_OBJECTS = {'/api/v1/directions/{id}', '/api/v1/competencies/{id}'}
# Routes that answer without writing anything, whatever the method.
NOT_AUDITED = {('POST', '/api/v1/auth/token')}
# Writes that make a number of objects, each audited: the audit rows a success adds.
AUDIT_ROWS = {
    ('POST', '/api/v1/campaigns/{id}/recommendation-drafts'): lambda r: r.json['created'],
    # a revocation is a decision of its own: its 'create', and the 'revoke' of the old one
    ('POST', '/api/v1/decisions/{id}/revoke'): lambda r: 2,
}


# --- what each cell sends --------------------------------------------------------------
#
# An action gets (world, role, where) with where 'in', 'out' or None and returns a dict:
#   id        the {id} of the pattern (for routes that have one)
#   ids       the ids of a pattern with several placeholders ({id}, {manager_id}), in
#             order (the first is the object)
#   query     a query string for the path (without '?')
#   body      the JSON body (writes)
#   if_match  True: send the current ETag of /{resource}/{id} as If-Match
#   watch     (writes without If-Match) the path of an object whose version a success
#             raises and a refusal leaves alone
#   login     for POST /auth/token

def _fixture(kind):
    def ids(w, where):
        return {
            'user': (w.user('head', 'A').id, w.user('head', 'B').id),
            'region': (w.region_a, w.region_b),
            'municipality': (w.muni_a1, w.muni_b1),
            'organization': (w.org_a1, w.org_b1),
            'manager': (w.mgr_a1, w.mgr_b1),
            'reserve': (w.res_a1, w.res_b1),
        }[kind][0 if where == 'in' else 1]
    return ids


def _muni(w, where):
    return w.muni_a1 if where == 'in' else w.muni_b1


def _org(w, where):
    return w.org_a1 if where == 'in' else w.org_b1


def read(kind):
    ids = _fixture(kind)
    return lambda w, role, where: {'id': ids(w, where)}


def patch(kind, body):
    ids = _fixture(kind)
    return lambda w, role, where: {'id': ids(w, where), 'body': body(w), 'if_match': True}


def plain(w, role, where):
    return {}


def create(body):
    return lambda w, role, where: {'body': body(w)}


def login(w, role, where):
    u = w.admin if role in ('admin', 'anonymous') else w.user(role, 'A')
    return {'body': {'login': u.login, 'password': PASSWORD}}


def patch_fresh_user(w, role, where):
    u = w.new_api_user('head', organization_id=_org(w, where))
    return {'id': u['id'], 'body': {'active': True}, 'if_match': True}


def appoint_fresh(w, role, where):
    m = w.new_manager(_muni(w, where))
    o = w.new_organization(_muni(w, where))
    return {'id': m['id'], 'body': {'organization_id': o['id'], 'started_on': TODAY},
            'if_match': True}


def dismiss_fresh(w, role, where):
    m = w.new_manager(_muni(w, where))
    return {'id': m['id'], 'body': {'dismissed_on': TODAY, 'reason': 'по собственному желанию'},
            'if_match': True}


def transition_fresh(w, role, where):
    c = w.new_reserve(_muni(w, where))
    return {'id': c['id'], 'body': {'to': 'training'}, 'if_match': True}


def direction(w, role, where):
    return {'id': w.direction}


def competency(w, role, where):
    return {'id': w.competency}


ACTIONS = {
    ('GET', '/healthz'): plain,
    ('GET', '/readyz'): plain,
    ('GET', '/metrics'): plain,
    ('GET', '/api/v1/openapi.yaml'): plain,
    ('GET', '/docs'): plain,
    ('POST', '/api/v1/auth/token'): login,
    ('GET', '/api/v1/auth/me'): plain,

    ('GET', '/api/v1/users'): plain,
    ('POST', '/api/v1/users'): create(lambda w: w.user_body('head', organization_id=w.org_a1)),
    ('GET', '/api/v1/users/{id}'): read('user'),
    ('PATCH', '/api/v1/users/{id}'): patch_fresh_user,

    ('GET', '/api/v1/regions'): plain,
    ('POST', '/api/v1/regions'): create(lambda w: w.region_body()),
    ('GET', '/api/v1/regions/{id}'): read('region'),
    ('PATCH', '/api/v1/regions/{id}'): patch(
        'region', lambda w: {'name': 'Регион, переименован %d' % w.seq.next()}),

    ('GET', '/api/v1/municipalities'): plain,
    ('POST', '/api/v1/municipalities'): create(lambda w: w.municipality_body(w.region_a)),
    ('GET', '/api/v1/municipalities/{id}'): read('municipality'),
    ('PATCH', '/api/v1/municipalities/{id}'): patch(
        'municipality', lambda w: {'name': 'Муниципалитет, переименован %d' % w.seq.next()}),

    ('GET', '/api/v1/organizations'): plain,
    ('POST', '/api/v1/organizations'): create(lambda w: w.organization_body(w.muni_a1)),
    ('GET', '/api/v1/organizations/{id}'): read('organization'),
    ('PATCH', '/api/v1/organizations/{id}'): patch(
        'organization', lambda w: {'students': 100 + w.seq.next()}),

    ('GET', '/api/v1/directions'): plain,
    ('GET', '/api/v1/directions/{id}'): direction,

    ('GET', '/api/v1/competencies'): plain,
    ('POST', '/api/v1/competencies'): create(lambda w: w.competency_body()),
    ('GET', '/api/v1/competencies/{id}'): competency,
    ('PATCH', '/api/v1/competencies/{id}'): lambda w, role, where: {
        'id': w.competency, 'body': {'max_score': 5 + w.seq.next() % 90}, 'if_match': True},

    ('GET', '/api/v1/managers'): plain,
    ('POST', '/api/v1/managers'): create(lambda w: w.manager_body(w.muni_a1)),
    ('GET', '/api/v1/managers/{id}'): read('manager'),
    ('PATCH', '/api/v1/managers/{id}'): patch(
        'manager', lambda w: {'phone': '+7 831 %03d-00-00' % (w.seq.next() % 1000)}),
    ('GET', '/api/v1/managers/{id}/appointments'): read('manager'),
    ('POST', '/api/v1/managers/{id}/appointments'): appoint_fresh,
    ('POST', '/api/v1/managers/{id}/dismissal'): dismiss_fresh,

    ('GET', '/api/v1/reserve'): plain,
    ('POST', '/api/v1/reserve'): create(lambda w: w.reserve_body(w.muni_a1)),
    ('GET', '/api/v1/reserve/{id}'): read('reserve'),
    ('PATCH', '/api/v1/reserve/{id}'): patch(
        'reserve', lambda w: {'training_programme': 'Программа %d' % w.seq.next()}),
    ('GET', '/api/v1/reserve/{id}/transitions'): read('reserve'),
    ('POST', '/api/v1/reserve/{id}/transitions'): transition_fresh,

    ('GET', '/api/v1/audit'): plain,
}


# --- monitoring and the management cycle (objects of monitoring_fixtures.World) ----------

def by_side(attr):
    """The fixture object of the cell's side: attr + '_a' in scope, + '_b' outside."""
    return lambda w, role, where: {'id': getattr(w, attr + ('_a' if w.side(where) == 'A'
                                                              else '_b'))}


def side_obj(fn):
    return lambda w, role, where: {'id': fn(w, w.side(where))}


def campaign_transition(w, role, where):
    side = w.side(where)
    if role in ('admin', 'regional_operator'):
        c = w.new_campaign(w.region(side), catalog=False)
        w.new_indicator(c['id'])
        cid = c['id']
    else:
        cid = w.draft_a if side == 'A' else w.draft_b
    return {'id': cid, 'body': {'to': 'open'}, 'if_match': True}


def indicator_create(w, role, where):
    return {'id': w.draft_a if w.side(where) == 'A' else w.draft_b, 'body': w.indicator_body()}


def indicator_delete(w, role, where):
    ind = w.new_indicator(w.draft_a if w.side(where) == 'A' else w.draft_b)
    return {'id': ind['id'], 'if_match': True}


def import_rows(w, role, where):
    side = w.side(where)
    sid = w.values_sub[side]
    return {'id': w.campaign(side),
            'body': [{'organization_inn': w.inns[w.org_of[sid]], 'indicator_code': 'R1',
                      'value': w.seq.next() % 100}]}


def submission_read(w, role, where):
    return {'id': w.sub_a1 if w.side(where) == 'A' else w.sub_b1}


def submission_values(w, role, where):
    """The indicator the role writes (DESIGN §2 sources): regional_import for a regional
    operator, municipal for a municipal one, self for the others; a valid body always."""
    side = w.side(where)
    n = w.seq.next()
    sid = w.values_sub[side]
    if role == 'regional_operator':
        values = [{'indicator': 'R1', 'value': n % 100}]
    elif role == 'municipal_operator':
        values = [{'indicator': 'M1', 'value': n % 10}]
    else:
        values = [{'indicator': 'S1', 'value': n % 100, 'comment': 'из отчёта ОО-1'}]
        if role == 'head' and side == 'A':
            sid = w.sub_a1  # the head's own organization
    return {'id': sid, 'body': {'values': values}, 'if_match': True}


def submission_transition(w, role, where):
    """A fresh submission in the state from which the role has a move: the head submits
    its own filled draft, the municipality verifies, the region approves, the admin
    submits; the roles the route refuses get a shared filled draft."""
    side = w.side(where)
    if role == 'admin':
        return {'id': w.fresh_submission(side, 'draft'), 'body': {'to': 'submitted'},
                'if_match': True}
    if role == 'regional_operator':
        return {'id': w.fresh_submission(side, 'verified'), 'body': {'to': 'approved'},
                'if_match': True}
    if role == 'municipal_operator':
        return {'id': w.fresh_submission(side, 'submitted'), 'body': {'to': 'verified'},
                'if_match': True}
    if role == 'head':
        sid = w.advance(w.sub_a1, 'draft') if side == 'A' else w.fresh_submission('B', 'draft')
        return {'id': sid, 'body': {'to': 'submitted', 'comment': 'готово'}, 'if_match': True}
    if side not in w.refused_sub:
        w.refused_sub[side] = w.fresh_submission(side, 'draft')
    return {'id': w.refused_sub[side], 'body': {'to': 'submitted'}, 'if_match': True}


def aggregates(w, role, where):
    return {'query': 'campaign=%d&group_by=municipality' % w.camp_a}


def attestation_patch(w, role, where):
    return {'id': w.att_a if w.side(where) == 'A' else w.att_b,
            'body': {'commission': 'Комиссия №%d' % w.seq.next()}, 'if_match': True}


def recommendation_patch(w, role, where):
    side = w.side(where)
    # Only the issuing side changes a draft: the municipal operator's own draft.
    token = w.token(role) if role == 'municipal_operator' and side == 'A' else None
    rec = w.new_recommendation(side, token=token, status='draft')
    return {'id': rec['id'], 'body': {'text': 'Уточнённый текст %d' % w.seq.next()},
            'if_match': True}


def recommendation_transition(w, role, where):
    side = w.side(where)
    if role == 'head':
        rec = w.new_recommendation(side)  # issued to the side's head
        return {'id': rec['id'], 'body': {'to': 'acknowledged'}, 'if_match': True}
    token = w.token(role) if role == 'municipal_operator' and side == 'A' else None
    rec = w.new_recommendation(side, token=token, status='draft')
    return {'id': rec['id'], 'body': {'to': 'issued'}, 'if_match': True}


def recommendation_drafts(w, role, where):
    return {'id': w.campaign(w.side(where)), 'body': {}}


def decision_revoke(w, role, where):
    side = w.side(where)
    # A municipal operator revokes municipal decisions: its own.
    token = w.token(role) if role == 'municipal_operator' and side == 'A' else None
    d = w.new_decision(side, token=token)
    return {'id': d['id'], 'body': w.revoke_body(), 'if_match': True}


def milestone_create(w, role, where):
    return {'id': w.rm_a if w.side(where) == 'A' else w.rm_b, 'body': w.milestone_body()}


def milestone_patch(w, role, where):
    # progress_report: what a head may change on its organization's milestone.
    return {'id': w.ms_a if w.side(where) == 'A' else w.ms_b,
            'body': {'progress_report': 'Выполнено на %d%%' % (w.seq.next() % 100)},
            'if_match': True}


def milestone_transition(w, role, where):
    return {'id': w.new_milestone(w.side(where))['id'], 'body': {'to': 'in_progress'},
            'if_match': True}


def participant_add(w, role, where):
    side = w.side(where)
    ms = w.new_milestone(side)['id']
    return {'id': ms, 'body': {'manager_id': w.mgr(side)},
            'watch': '%s/milestones/%d' % (API, ms)}


def participant_remove(w, role, where):
    side = w.side(where)
    ms = w.new_milestone(side)['id']
    w.create('%s/milestones/%d/participants' % (API, ms), {'manager_id': w.mgr(side)})
    return {'ids': [ms, w.mgr(side)], 'watch': '%s/milestones/%d' % (API, ms)}


ACTIONS.update({
    ('GET', '/api/v1/campaigns'): plain,
    ('POST', '/api/v1/campaigns'): create(lambda w: w.campaign_body(w.region_a)),
    ('GET', '/api/v1/campaigns/{id}'): side_obj(lambda w, s: w.campaign(s)),
    ('PATCH', '/api/v1/campaigns/{id}'): lambda w, role, where: {
        'id': w.campaign(w.side(where)), 'body': {'title': 'Мониторинг №%d' % w.seq.next()},
        'if_match': True},
    ('POST', '/api/v1/campaigns/{id}/transitions'): campaign_transition,
    ('GET', '/api/v1/campaigns/{id}/indicators'): side_obj(lambda w, s: w.campaign(s)),
    ('POST', '/api/v1/campaigns/{id}/indicators'): indicator_create,
    ('GET', '/api/v1/campaigns/{id}/lint'): side_obj(lambda w, s: w.campaign(s)),
    ('GET', '/api/v1/indicators/{id}'): by_side('ind'),
    ('PATCH', '/api/v1/indicators/{id}'): lambda w, role, where: {
        'id': w.ind_a if w.side(where) == 'A' else w.ind_b,
        'body': {'name': 'Показатель №%d' % w.seq.next()}, 'if_match': True},
    ('DELETE', '/api/v1/indicators/{id}'): indicator_delete,
    ('GET', '/api/v1/campaigns/{id}/imports'): side_obj(lambda w, s: w.campaign(s)),
    ('POST', '/api/v1/campaigns/{id}/imports'): import_rows,

    ('GET', '/api/v1/submissions'): plain,
    ('GET', '/api/v1/submissions/{id}'): submission_read,
    ('PUT', '/api/v1/submissions/{id}/values'): submission_values,
    ('POST', '/api/v1/submissions/{id}/transitions'): submission_transition,
    ('GET', '/api/v1/submissions/{id}/history'): submission_read,

    ('GET', '/api/v1/campaigns/{id}/scores'): side_obj(lambda w, s: w.campaign(s)),
    ('GET', '/api/v1/campaigns/{id}/warnings'): side_obj(lambda w, s: w.campaign(s)),
    ('GET', '/api/v1/campaigns/{id}/outliers'): side_obj(lambda w, s: w.campaign(s)),
    ('GET', '/api/v1/campaigns/{id}/calibration'): side_obj(lambda w, s: w.campaign(s)),
    ('GET', '/api/v1/campaigns/{id}/simulations'): side_obj(lambda w, s: w.campaign(s)),
    ('POST', '/api/v1/campaigns/{id}/simulations'): lambda w, role, where: {
        'id': w.campaign(w.side(where)), 'body': {'thresholds': {'high': 90}}},
    ('GET', '/api/v1/campaigns/{id}/cycle-report'): side_obj(lambda w, s: w.campaign(s)),
    ('GET', '/api/v1/managers/{id}/scores'): side_obj(lambda w, s: w.mgr(s)),
    ('GET', '/api/v1/aggregates'): aggregates,
    ('GET', '/api/v1/public/aggregates'): plain,

    ('GET', '/api/v1/attestations'): plain,
    ('POST', '/api/v1/attestations'): create(lambda w: w.attestation_body(w.mgr_a1)),
    ('GET', '/api/v1/attestations/{id}'): by_side('att'),
    ('PATCH', '/api/v1/attestations/{id}'): attestation_patch,
    ('GET', '/api/v1/managers/{id}/attestations'): side_obj(lambda w, s: w.mgr(s)),

    ('GET', '/api/v1/recommendations'): plain,
    ('POST', '/api/v1/recommendations'): create(lambda w: w.recommendation_body('A')),
    ('GET', '/api/v1/recommendations/{id}'): by_side('rec'),
    ('PATCH', '/api/v1/recommendations/{id}'): recommendation_patch,
    ('POST', '/api/v1/recommendations/{id}/transitions'): recommendation_transition,
    ('GET', '/api/v1/recommendations/{id}/history'): by_side('rec'),
    ('POST', '/api/v1/campaigns/{id}/recommendation-drafts'): recommendation_drafts,

    ('GET', '/api/v1/decisions'): plain,
    ('POST', '/api/v1/decisions'): create(lambda w: w.decision_body('A')),
    ('GET', '/api/v1/decisions/{id}'): by_side('dec'),
    ('POST', '/api/v1/decisions/{id}/revoke'): decision_revoke,

    ('GET', '/api/v1/roadmaps'): plain,
    ('POST', '/api/v1/roadmaps'): create(lambda w: w.roadmap_body('A')),
    ('GET', '/api/v1/roadmaps/{id}'): by_side('rm'),
    ('PATCH', '/api/v1/roadmaps/{id}'): lambda w, role, where: {
        'id': w.rm_a if w.side(where) == 'A' else w.rm_b,
        'body': {'title': 'Дорожная карта №%d' % w.seq.next()}, 'if_match': True},
    ('GET', '/api/v1/roadmaps/{id}/milestones'): by_side('rm'),
    ('POST', '/api/v1/roadmaps/{id}/milestones'): milestone_create,
    ('GET', '/api/v1/milestones'): plain,
    ('GET', '/api/v1/milestones/{id}'): by_side('ms'),
    ('PATCH', '/api/v1/milestones/{id}'): milestone_patch,
    ('POST', '/api/v1/milestones/{id}/transitions'): milestone_transition,
    ('GET', '/api/v1/milestones/{id}/participants'): by_side('ms'),
    ('POST', '/api/v1/milestones/{id}/participants'): participant_add,
    ('DELETE', '/api/v1/milestones/{id}/participants/{manager_id}'): participant_remove,
})


def daemon_routes(daemon):
    p = daemon.run('routes', timeout=30)
    if p.returncode != 0:
        raise AssertionError('effmond routes failed (%d): %s' % (p.returncode, p.stderr))
    out = set()
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out.add((parts[0], parts[1]))
    return out


def cells():
    """(method, pattern, role, where, expected) for every cell of MATRIX."""
    for method, pattern, *cols in MATRIX:
        for role, col in zip(COLUMNS, cols):
            if isinstance(col, tuple):
                yield method, pattern, role, 'in', col[0]
                yield method, pattern, role, 'out', col[1]
            else:
                yield method, pattern, role, None, col


class AuthzMatrixTest(harness.DaemonTestCase):
    threads = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = mf.World(cls.daemon, cls.cluster)
        r = cls.w.get(API + '/directions', token=cls.w.admin.token)
        harness.assert_status(r, 200, 'GET /directions')
        cls.w.direction = r.json['items'][0]['id']

    def test_1_matrix_covers_every_route(self):
        rows = [(m, p) for m, p, *_ in MATRIX]
        self.assertEqual(len(rows), len(set(rows)), 'a route appears twice in MATRIX')
        for m, p, *cols in MATRIX:
            self.assertEqual(len(cols), len(COLUMNS), 'row %s %s has %d columns' % (m, p,
                                                                                 len(cols)))
            scoped = '{id}' in p and p not in GLOBAL_OBJECTS
            for role, col in zip(COLUMNS, cols):
                self.assertEqual(isinstance(col, tuple), scoped,
                                 '%s %s, %s: a route on one scoped object needs an '
                                 '(in scope, out of scope) pair, any other a single status'
                                 % (m, p, role))
        routes = daemon_routes(self.daemon)
        self.assertTrue(routes, 'effmond routes printed nothing')
        missing = sorted(routes - set(rows))
        extra = sorted(set(rows) - routes)
        self.assertEqual(missing, [], 'routes of `effmond routes` without rows in MATRIX')
        self.assertEqual(extra, [], 'rows in MATRIX for routes the daemon does not have')
        self.assertEqual(set(ACTIONS), set(rows), 'ACTIONS and MATRIX name different routes')

    def test_2_matrix(self):
        w = self.w
        failures = []
        audited = {}  # request id -> (cell, expected audit rows)
        n = 0
        for method, pattern, role, where, expected in cells():
            n += 1
            try:
                spec = ACTIONS[(method, pattern)](w, role, where)
            except (AssertionError, OSError) as e:
                failures.append('%s %s as %s%s: preparing the cell failed: %s'
                                % (method, pattern, role, ', %s scope' % where if where else '',
                                   e))
                continue
            path = pattern
            obj_path = None
            if '{id}' in pattern:
                ids = spec.get('ids') or [spec['id']]
                for i in ids:
                    path = re.sub(r'\{[a-z_]+\}', str(i), path, count=1)
                obj_path = pattern.split('{id}')[0] + str(ids[0])
            if spec.get('query'):
                path += '?' + spec['query']
            headers = {'X-Request-Id': 'mx-%d' % n}
            version = None
            if spec.get('if_match'):
                headers['If-Match'] = w.etag(obj_path)
                version = w.version(obj_path)
            elif spec.get('watch'):
                obj_path = spec['watch']
                version = w.version(obj_path)
            cell = '%s %s as %s%s (expected %d)' % (method, path, role,
                                                    ', %s scope' % where if where else '',
                                                    expected)
            try:
                r = w.call(method, path, body=spec.get('body'), token=w.token(role),
                           headers=headers)
            except OSError as e:
                failures.append('%s: no answer (%s)' % (cell, e))
                continue
            if r.status != expected:
                failures.append('%s: got %d %s' % (cell, r.status, r.body[:300]))
                continue
            try:
                if expected >= 400:
                    assert_problem(r, expected, cell)
                    if expected == 401 and not r.headers.get('www-authenticate', '').startswith(
                            'Bearer'):
                        raise AssertionError('401 without WWW-Authenticate: Bearer')
                elif expected == 204:
                    if r.body:
                        raise AssertionError('204 with a body: %r' % r)
                elif pattern.startswith('/api/v1/') and pattern != '/api/v1/openapi.yaml':
                    if not isinstance(r.json, dict):
                        raise AssertionError('the body is not a JSON object: %r' % r)
                    if 'items' in r.json and not isinstance(r.json['items'], list):
                        raise AssertionError('items is not a list: %r' % r)
                if version is not None and obj_path == path and method == 'DELETE' \
                        and expected < 300:
                    gone = w.call('GET', obj_path, as_admin=True)
                    if gone.status != 404:
                        raise AssertionError('deleted, but GET %s answers %d'
                                             % (obj_path, gone.status))
                elif version is not None:
                    now = w.version(obj_path)
                    if expected < 300 and now <= version:
                        raise AssertionError('the write succeeded but the version stayed %d'
                                             % now)
                    if expected >= 300 and now != version:
                        raise AssertionError('a refused write changed the version %d -> %d'
                                             % (version, now))
            except AssertionError as e:
                failures.append('%s: %s' % (cell, e))
                continue
            writes = method != 'GET' and (method, pattern) not in NOT_AUDITED
            want = 0
            if writes and expected < 300:
                want = AUDIT_ROWS.get((method, pattern), lambda r: 1)(r)
            audited[headers['X-Request-Id']] = (cell, want)

        rows = w.sql("SELECT request_id, count(*) FROM audit_events "
                     "WHERE request_id LIKE 'mx-%' GROUP BY request_id")
        counts = {}
        for line in rows.split():
            rid, cnt = line.split('|')
            counts[rid] = int(cnt)
        for rid, (cell, want) in sorted(audited.items()):
            if counts.get(rid, 0) != want:
                failures.append('%s: %d audit_events rows, expected %d'
                                % (cell, counts.get(rid, 0), want))
        print('authorization matrix: %d cells' % n)
        if failures:
            self.fail('%d of %d cells failed:\n  %s' % (len(failures), n,
                                                         '\n  '.join(failures)))
        self.assertHealthy('the authorization matrix')


if __name__ == '__main__':
    harness.main()
