-- Runs once, when the retailer2-db volume is first initialised (the official image runs /docker-entrypoint-initdb.d
-- as POSTGRES_USER on POSTGRES_DB): loads retailer2's customers from the seed the setup service wrote, and creates
-- the read-only login the node uses. Its password comes from the environment, never from a file in the repository.
\set ON_ERROR_STOP on
\getenv reader_password RETAILER2_DB_PASSWORD
CREATE TABLE public.customers_r2 (email text, segment text);
COPY public.customers_r2 FROM '/seed/customers_r2.csv' WITH (FORMAT csv, HEADER true);
CREATE ROLE cleanroom_reader LOGIN PASSWORD :'reader_password';
GRANT SELECT ON public.customers_r2 TO cleanroom_reader;
