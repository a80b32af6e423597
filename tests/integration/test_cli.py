#!/usr/bin/python3
"""
test_cli.py - `effmond create-user`: each role with its scope, the id on
stdout, the password from the first line of stdin, and the refusals (short
password, unknown role, wrong or missing scope, duplicate login in any case).
A created user can log in and its token carries exactly its scope.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import assert_status  # noqa: E402

import jwt  # noqa: E402

PASSWORD = 'correct horse battery'


class CreateUserTest(harness.DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a = cls.cluster.add_scope()
        cls.b = cls.cluster.add_scope()

    def cu(self, *args, password=PASSWORD + '\n'):
        return self.daemon.run('create-user', *args, '--password-stdin', input=password,
                               timeout=30)

    def ok(self, login, role, scope_args=(), expect_scope=None, password=PASSWORD + '\n'):
        p = self.cu('--login', login, '--role', role, *scope_args, password=password)
        self.assertEqual(p.returncode, 0, 'create-user %s %s %s: %r' % (login, role, scope_args,
                                                                        p.stderr))
        self.assertRegex(p.stdout, r'^[1-9][0-9]*\n$', 'stdout is not just the id')
        uid = int(p.stdout)
        row = self.cluster.psql("SELECT login, role, coalesce(region_id, 0), "
                                "coalesce(municipality_id, 0), coalesce(organization_id, 0), "
                                "coalesce(manager_id, 0), active FROM users WHERE id = %d" % uid)
        exp = dict(region_id=0, municipality_id=0, organization_id=0, manager_id=0)
        exp.update(expect_scope or {})
        self.assertEqual(row, '%s|%s|%d|%d|%d|%d|t' % (login, role, exp['region_id'],
                                                       exp['municipality_id'],
                                                       exp['organization_id'],
                                                       exp['manager_id']))
        # it can log in, and the token carries exactly the role's scope
        r = self.daemon.login_response(login, PASSWORD)
        assert_status(r, 200, 'login as the new user %s' % login)
        claims = jwt.decode(r.json['access_token'], self.daemon.secret, algorithms=['HS256'],
                            audience='effmon')
        self.assertEqual(claims['sub'], str(uid))
        self.assertEqual(claims['role'], role)
        for k in ('region_id', 'municipality_id', 'organization_id'):
            if (expect_scope or {}).get(k):
                self.assertEqual(claims.get(k), expect_scope[k], claims)
            else:
                self.assertNotIn(k, claims, claims)
        me = self.daemon.request('GET', '/api/v1/auth/me', token=r.json['access_token'])
        assert_status(me, 200, 'GET /auth/me as %s' % login)
        for k in ('region_id', 'municipality_id', 'organization_id', 'manager_id'):
            self.assertEqual(me.json.get(k), (expect_scope or {}).get(k), me)
        return uid

    def fails(self, *args, password=PASSWORD + '\n', what=''):
        p = self.cu(*args, password=password)
        self.assertNotEqual(p.returncode, 0, 'create-user %s (%s) succeeded: %r'
                            % (args, what, p.stdout))
        self.assertEqual(p.stdout, '', 'stdout on failure')
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, 'stderr is not one line: %r' % p.stderr)
        return lines[0]

    def test_each_role(self):
        a, b = self.a, self.b
        self.ok('cli-admin', 'admin')
        for login, role in (('cli-regional', 'regional_operator'), ('cli-expert', 'expert'),
                            ('cli-portal', 'portal')):
            self.ok(login, role, ('--region', str(a['region'])), {'region_id': a['region']})
        self.ok('cli-municipal', 'municipal_operator', ('--municipality', str(b['municipality'])),
                {'municipality_id': b['municipality']})
        self.ok('cli-head', 'head', ('--organization', str(a['organization'])),
                {'organization_id': a['organization']})
        self.ok('cli-head2', 'head', ('--organization', str(a['organization']), '--manager',
                                      str(a['manager'])),
                {'organization_id': a['organization'], 'manager_id': a['manager']})

    def test_scope_must_exist(self):
        self.fails('--login', 'cli-x1', '--role', 'regional_operator', '--region', '999999',
                   what='a region that does not exist')
        self.fails('--login', 'cli-x2', '--role', 'head', '--organization', '999999',
                   what='an organization that does not exist')
        self.fails('--login', 'cli-x3', '--role', 'head', '--organization',
                   str(self.a['organization']), '--manager', '999999',
                   what='a manager that does not exist')

    def test_password_first_line_only(self):
        self.ok('cli-twolines', 'admin', password=PASSWORD + '\nsecond line\n')
        self.ok('cli-noeol', 'admin', password=PASSWORD)

    def test_password_rules(self):
        self.fails('--login', 'cli-short', '--role', 'admin', password='1234567\n',
                   what='7 characters')
        self.fails('--login', 'cli-empty', '--role', 'admin', password='', what='no stdin')
        self.fails('--login', 'cli-blank', '--role', 'admin', password='\n', what='empty line')
        p = self.cu('--login', 'cli-eight', '--role', 'admin', password='12345678\n')
        self.assertEqual(p.returncode, 0, '8 characters refused: %r' % p.stderr)

    def test_refusals(self):
        self.fails('--login', 'cli-god', '--role', 'god', what='unknown role')
        self.fails('--login', 'cli-r1', '--role', 'regional_operator', what='no --region')
        self.fails('--login', 'cli-r2', '--role', 'admin', '--region', str(self.a['region']),
                   what='admin with a region')
        r = str(self.a['region'])
        self.fails('--login', 'cli-r3', '--role', 'municipal_operator', '--region', r,
                   what='municipal operator with a region')
        self.fails('--login', 'cli-r4', '--role', 'regional_operator', '--region', r,
                   '--municipality', str(self.a['municipality']), what='two scopes')
        self.fails('--login', 'cli-r5', '--role', 'regional_operator', '--region', '0',
                   what='region 0')
        self.fails('--login', 'cli-r6', '--role', 'regional_operator', '--region', 'abc',
                   what='region abc')
        self.fails('--login', 'cli-r7', '--role', 'regional_operator', '--region', '-3',
                   what='region -3')
        self.fails('--login', 'cli-r8', '--role', 'expert', '--region', r, '--manager',
                   str(self.a['manager']),
                   what='manager for a non-head')
        self.fails('--login', 'two words', '--role', 'admin', what='a space in the login')
        self.fails('--login', 'ab', '--role', 'admin', what='a 2-character login')
        self.fails('--role', 'admin', what='no --login')
        self.fails('--login', 'cli-norole', what='no --role')
        self.assertEqual(self.cluster.psql("SELECT count(*) FROM users WHERE login ~ '^cli-r[0-9]$' "
                                           "OR login IN ('cli-god', 'ab', 'two words', "
                                           "'cli-norole', 'cli-short', 'cli-empty', "
                                           "'cli-blank')"), '0')

    def test_same_rules_as_post_users(self):
        a, b = self.a, self.b
        # a head's manager must head that organization: b's manager is not a's
        line = self.fails('--login', 'cli-m1', '--role', 'head', '--organization',
                          str(a['organization']), '--manager', str(b['manager']),
                          what='a manager of another organization')
        self.assertIn('manager_id', line)
        self.assertEqual(self.cluster.psql("SELECT count(*) FROM users WHERE login = 'cli-m1'"),
                         '0')
        # every problem is named at once, by its field
        line = self.fails('--login', 'x', '--role', 'head', '--region', str(a['region']),
                          password='short\n', what='three problems')
        for field in ('login', 'password', 'organization_id', 'region_id'):
            self.assertIn(field, line)

    def test_audit_row_has_the_scope(self):
        a = self.a
        uid = self.ok('cli-audited', 'head', ('--organization', str(a['organization']),
                                              '--manager', str(a['manager'])),
                      {'organization_id': a['organization'], 'manager_id': a['manager']})
        row = self.cluster.psql(
            "SELECT actor_user_id IS NULL, actor_role, action, region_id, municipality_id, "
            "organization_id, after->>'login', after ? 'password_hash' FROM audit_events "
            "WHERE entity = 'user' AND entity_id = %d" % uid)
        self.assertEqual(row, 't|cli|create|%d|%d|%d|cli-audited|f'
                         % (a['region'], a['municipality'], a['organization']))

    def test_duplicate_login(self):
        self.ok('cli-dup', 'admin')
        line = self.fails('--login', 'cli-dup', '--role', 'admin', what='same login')
        self.assertIn('cli-dup', line)
        self.fails('--login', 'CLI-Dup', '--role', 'admin', what='same login, other case')


if __name__ == '__main__':
    harness.main()
