#!/bin/sh
# /usr/bin/pigeonhole, installed by the pigeonhole package: the app and its libraries live in /opt/pigeonhole.
exec /opt/pigeonhole/pigeonhole "$@"
