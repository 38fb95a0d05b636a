-- At most one central site, also when two requests race.
CREATE UNIQUE INDEX site_one_central ON site (kind) WHERE kind = 'central';
