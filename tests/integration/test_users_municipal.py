#!/usr/bin/env python3
"""A municipal operator gives and withdraws the accounts of its municipality's heads:
creates `head` users for its own organizations, lists and reads them, deactivates,
reactivates and resets their passwords; every wider grant is refused (another
municipality's organization, another role, a manager not heading that organization), and
an account outside its municipality answers exactly like a missing one."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_problem, assert_status  # noqa: E402
import registry_fixtures as rf  # noqa: E402

API = rf.API


def fields(doc):
    return sorted(e.get('field') for e in doc.get('errors', []))


class MunicipalUsersTest(harness.DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = rf.World(cls.daemon, cls.cluster)
        cls.muni = cls.w.user('municipal_operator', 'A')  # of muni_a1

    def call(self, method, path, body=None, if_match_of=None):
        headers = {'If-Match': self.w.etag(API + if_match_of)} if if_match_of else None
        return self.w.call(method, API + path, body=body, token=self.muni.token, headers=headers)

    def test_1_gives_and_withdraws_a_head_account(self):
        w = self.w
        body = w.user_body('head', organization_id=w.org_a1, manager_id=w.mgr_a1)
        r = self.call('POST', '/users', body)
        assert_status(r, 201, 'a municipal operator creates a head of its organization')
        uid = r.json['id']
        self.assertEqual((r.json['role'], r.json['organization_id'], r.json['manager_id']),
                         ('head', w.org_a1, w.mgr_a1))
        self.assertNotIn('password', r.json)
        self.w.d.login(body['login'], rf.PASSWORD)

        r = self.call('GET', '/users?role=head&limit=200')
        assert_status(r, 200, 'list of users')
        ids = {u['id'] for u in r.json['items']}
        self.assertIn(uid, ids)
        for u in r.json['items']:
            self.assertIn(u['role'], ('head', 'municipal_operator'), u)
        assert_status(self.call('GET', '/users/%d' % uid), 200, 'read its head')

        # Withdraw: the login stops working; give back: it works again.
        r = self.call('PATCH', '/users/%d' % uid, {'active': False}, '/users/%d' % uid)
        assert_status(r, 200, 'deactivate its head')
        self.assertFalse(r.json['active'])
        assert_problem(w.d.login_response(body['login'], rf.PASSWORD), 401, 'deactivated head')
        r = self.call('PATCH', '/users/%d' % uid, {'active': True}, '/users/%d' % uid)
        assert_status(r, 200, 'reactivate its head')
        w.d.login(body['login'], rf.PASSWORD)
        # Reset the password: the old one stops working.
        r = self.call('PATCH', '/users/%d' % uid, {'password': 'a-new-long-pass'},
                      '/users/%d' % uid)
        assert_status(r, 200, 'reset the password of its head')
        assert_problem(w.d.login_response(body['login'], rf.PASSWORD), 401, 'old password')
        w.d.login(body['login'], 'a-new-long-pass')

    def test_2_no_wider_grant(self):
        w = self.w
        cases = [
            # another municipality's organization (same region, and another region)
            (w.user_body('head', organization_id=w.org_a2), 400, ['organization_id']),
            (w.user_body('head', organization_id=w.org_b1), 400, ['organization_id']),
            # a manager who does not head that organization (in scope, and out of it)
            (w.user_body('head', organization_id=w.org_a1, manager_id=w.mgr_a1b), 400,
             ['manager_id']),
            (w.user_body('head', organization_id=w.org_a1, manager_id=w.mgr_a2), 400,
             ['manager_id']),
            # a wider role, even inside its own municipality
            (w.user_body('municipal_operator', municipality_id=w.muni_a1), 403, []),
            (w.user_body('regional_operator', region_id=w.region_a), 403, []),
            (w.user_body('expert', region_id=w.region_a), 403, []),
            (w.user_body('portal', region_id=w.region_a), 403, []),
            (w.user_body('admin'), 403, []),
            # a head scoped by municipality instead of organization
            (w.user_body('head', municipality_id=w.muni_a1), 400, ['municipality_id',
                                                                    'organization_id']),
        ]
        before = w.sql("SELECT count(*) FROM users")
        for body, status, want in cases:
            r = self.call('POST', '/users', body)
            doc = assert_problem(r, status, 'POST /users %r' % body)
            if want:
                self.assertEqual(fields(doc), want, body)
        self.assertEqual(w.sql("SELECT count(*) FROM users"), before, 'a refused user was made')

    def test_3_out_of_scope_looks_like_missing(self):
        w = self.w
        other = w.new_api_user('head', organization_id=w.org_a2)['id']       # muni_a2
        far = w.new_api_user('head', organization_id=w.org_b1)['id']         # region B
        regional = w.user('regional_operator', 'A').id
        missing = 987654321
        shapes = []
        for uid in (other, far, regional, missing):
            r = self.call('GET', '/users/%d' % uid)
            doc = assert_problem(r, 404, 'GET /users/%d' % uid)
            shapes.append((doc['type'], doc['title'], doc['detail'].replace(str(uid), 'N')))
            r = w.call('PATCH', API + '/users/%d' % uid, body={'active': False},
                       token=self.muni.token, headers={'If-Match': '"1"'})
            doc = assert_problem(r, 404, 'PATCH /users/%d' % uid)
            shapes.append((doc['type'], doc['title'], doc['detail'].replace(str(uid), 'N')))
        self.assertEqual(len(set(shapes)), 1, shapes)  # the same answer for every id
        r = self.call('GET', '/users?limit=200')
        ids = {u['id'] for u in r.json['items']}
        self.assertFalse(ids & {other, far, regional}, 'out-of-scope accounts listed')
        for uid in (other, far):
            self.assertEqual(w.sql("SELECT active FROM users WHERE id = %d" % uid).strip(), 't')

    def test_4_no_other_role_and_no_move(self):
        w = self.w
        peer = w.cli_user('municipal_operator', w.region_a, w.muni_a1, None)
        # A peer operator is visible (the same municipality) but not its to change.
        r = self.call('PATCH', '/users/%d' % peer.id, {'active': False}, '/users/%d' % peer.id)
        assert_problem(r, 403, 'deactivate a peer operator')
        head = w.new_api_user('head', organization_id=w.org_a1b)['id']
        # Moving its head to another municipality's organization, or to another role.
        for change, field in (({'organization_id': w.org_a2}, 'organization_id'),
                              ({'role': 'municipal_operator'}, 'role'),
                              ({'municipality_id': w.muni_a2}, 'municipality_id')):
            r = self.call('PATCH', '/users/%d' % head, change, '/users/%d' % head)
            doc = assert_problem(r, 400, 'PATCH %r' % change)
            self.assertEqual(fields(doc), [field], change)
        self.assertEqual(w.sql("SELECT organization_id FROM users WHERE id = %d" % head).strip(),
                         str(w.org_a1b))
        # Heads and the other roles manage no accounts.
        for role in ('head', 'expert', 'portal'):
            r = w.call('POST', API + '/users', body=w.user_body('head', organization_id=w.org_a1),
                       token=w.token(role))
            assert_problem(r, 403, '%s creates a head' % role)


if __name__ == '__main__':
    unittest.main(verbosity=2)
