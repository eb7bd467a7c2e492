-- One database and one owner role per service: services never read each other's tables,
-- and in production each has its own CloudNativePG cluster (deploy/k8s). Run once by the
-- postgres image on an empty data volume (/docker-entrypoint-initdb.d).
-- The passwords are for the local compose stack only; nothing outside it can reach it.
CREATE ROLE enrollment LOGIN PASSWORD 'enrollment';
CREATE DATABASE enrollment OWNER enrollment;

CREATE ROLE matching LOGIN PASSWORD 'matching';
CREATE DATABASE matching OWNER matching;

CREATE ROLE sessions LOGIN PASSWORD 'sessions';
CREATE DATABASE sessions OWNER sessions;

CREATE ROLE analytics LOGIN PASSWORD 'analytics';
CREATE DATABASE analytics OWNER analytics;
