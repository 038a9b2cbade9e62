/**
 * Jail presets: what a failed login (or a flood) looks like in each Django
 * flow, as measured on Django 3.2 / DRF 3.14 (see the README's "Django flows" table). A preset
 * fills the rule fields of a jail; the jail's own fields override it.
 */
export interface RuleFields {
  methods?: string[];
  path?: string | string[];
  pathPrefix?: string | string[];
  pathRegex?: string;
  statuses?: number[];
  /** the response must carry this header too (e.g. WWW-Authenticate) */
  responseHeader?: string;
  /** path prefixes never counted (static files) */
  exclude?: string[];
  maxretry?: number;
  findtime?: string | number;
  bantime?: string | number;
  /** every request counts (any status): a request-flood jail */
  flood?: boolean;
  /** a log-fed jail (read by the sidecar, not the gateway): the filter of its lines */
  filter?: 'sshd';
  /** the log file it follows unless the jail reads journald */
  logpath?: string;
  /** the ports its bans' firewall rules close (default firewall.ports) */
  ports?: number[];
}

export const PRESETS = {
  /** The guide's API login: POST /auth/login/ answers 401 on bad credentials. */
  'django.login': { methods: ['POST'], path: '/auth/login/', statuses: [401] },
  /** Django admin: a failed login re-renders the form with 200; success is a 302. */
  'django.admin': { methods: ['POST'], path: '/admin/login/', statuses: [200] },
  /** django.contrib.auth LoginView at /accounts/login/: 200 = failure, 302 = success. */
  'django.formLogin': { methods: ['POST'], path: '/accounts/login/', statuses: [200] },
  /** DRF obtain_auth_token (docs mount it at /api-token-auth/): 400 on bad credentials. */
  'drf.token': { methods: ['POST'], path: '/api-token-auth/', statuses: [400] },
  /** simplejwt TokenObtainPairView: 401 with WWW-Authenticate: Bearer. */
  simplejwt: { methods: ['POST'], path: '/api/token/', statuses: [401] },
  /** dj-rest-auth LoginView (`login/?$`: slash optional): 400. */
  'djRestAuth.login': { methods: ['POST'], pathRegex: '^/dj-rest-auth/login/?$', statuses: [400] },
  /** allauth headless: 400 is a failure; 401 means "2FA pending", NOT a failure. */
  'allauth.headless': {
    methods: ['POST'],
    pathRegex: '^/_allauth/(browser|app)/v1/auth/login$',
    statuses: [400],
  },
  /** Any 401 that asks for credentials (HTTP basic / token auth on DRF). */
  'http.authFailure': { statuses: [401], responseHeader: 'www-authenticate' },
  /** 404 floods from scanners; static and media files never count. */
  'http.notFound': {
    statuses: [404],
    exclude: ['/static/', '/media/', '/favicon.ico', '/robots.txt', '/apple-touch-icon'],
    maxretry: 30,
    findtime: '1m',
  },
  /** fail2ban's nginx-limit-req: 300 requests of any status within a minute, static files not counted. */
  'http.flood': {
    flood: true,
    exclude: ['/static/', '/media/', '/favicon.ico', '/robots.txt', '/apple-touch-icon'],
    maxretry: 300,
    findtime: '1m',
  },
  /** fail2ban's [sshd]: sshd's failure lines, read by every host's sidecar; a ban closes port 22. */
  sshd: { filter: 'sshd', logpath: '/var/log/auth.log', ports: [22] },
  /** Only the X-Portcullis-Failure header set by the Django helper counts. */
  'django.signal': {},
} as const satisfies Record<string, RuleFields>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** The response header the Django helper sets on user_login_failed: value = jail name. */
export const FAILURE_HEADER = 'x-portcullis-failure';
