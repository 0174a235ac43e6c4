-- Security review (issue 9).
-- Which flow a challenge proves: the first factor of a sign-in, or step-up's code on the other
-- channel. Step-up accepts only its own challenges.
ALTER TABLE challenges ADD COLUMN purpose TEXT NOT NULL DEFAULT 'first';
-- How an interaction was opened: `hosted` (a browser at /authorize), `api_link` (a magic link sent
-- by the passwordless API, bound to the first browser that opens it) or `api_code`.
ALTER TABLE interactions ADD COLUMN kind TEXT NOT NULL DEFAULT 'hosted';
-- A pending authenticator enrolment belongs to the sign-in that started it.
ALTER TABLE totp_factors ADD COLUMN interaction_id TEXT;
