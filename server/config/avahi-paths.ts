/**
 * Where avahi-daemon reads static service definitions: it watches this directory and
 * announces (or withdraws) a file's services as it appears (or goes). The one module that
 * knows the path; `serve --avahi-service` writes fleetcert's file there by default.
 */
export const AVAHI_SERVICE_FILE = '/etc/avahi/services/fleetcert.service';
