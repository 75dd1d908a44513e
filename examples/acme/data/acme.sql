-- ACME Corp help desk: the database behind examples/acme/tools.py.
-- Every value agrees with examples/acme/facts.md. Plain SQLite; dates are ISO text (YYYY-MM-DD).
-- tools.py creates the database from this file the first time a tool runs.

-- IT tickets. Ids are "IT-" + four digits; priorities and statuses as in docs/it/it-tickets.md.
CREATE TABLE tickets (
    id          TEXT PRIMARY KEY CHECK (id GLOB 'IT-[0-9][0-9][0-9][0-9]'),
    summary     TEXT NOT NULL,
    priority    TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status      TEXT NOT NULL CHECK (status IN ('New', 'In progress', 'Waiting for you', 'Resolved', 'Closed')),
    category    TEXT NOT NULL CHECK (category IN ('Account and password', 'VPN', 'Laptop', 'Software', 'Printer', 'Wi-Fi', 'Other')),
    opened_on   DATE NOT NULL,
    employee_id TEXT REFERENCES employees (id)
);

-- Employees and their annual leave for the current calendar year (2026).
-- Entitlement: 27 days; 28 from the calendar year after 5 years of service (hired in 2020 or
-- earlier), 29 after 10 years (hired in 2015 or earlier); joiners accrue 2.25 days per month
-- from their start date. At most 5 days carried over from 2025. Start dates are Mondays, or
-- Tuesdays when the Monday is a public holiday (E1007: Easter Monday 2018).
CREATE TABLE employees (
    id                 TEXT PRIMARY KEY CHECK (id GLOB 'E[0-9][0-9][0-9][0-9]'),
    name               TEXT NOT NULL,
    office             TEXT NOT NULL CHECK (office IN ('lyon', 'berlin', 'montreal')),
    hired_on           DATE NOT NULL,
    leave_entitlement  REAL NOT NULL,
    leave_taken        REAL NOT NULL DEFAULT 0,
    leave_carried_over REAL NOT NULL DEFAULT 0 CHECK (leave_carried_over BETWEEN 0 AND 5)
);

-- Public holidays of each office (docs/hr/public-holidays.md), as the calendar dates they fall
-- on, weekends included. Easter Sunday: 2026-04-05, 2027-03-28.
CREATE TABLE public_holidays (
    office TEXT NOT NULL CHECK (office IN ('lyon', 'berlin', 'montreal')),
    day    DATE NOT NULL,
    name   TEXT NOT NULL,
    PRIMARY KEY (office, day)
);

-- Reference exchange rates: units of the currency per 1 EUR (ACME's home currency).
CREATE TABLE exchange_rates (
    currency TEXT PRIMARY KEY CHECK (length(currency) = 3),
    per_eur  REAL NOT NULL CHECK (per_eur > 0),
    as_of    DATE NOT NULL
);

-- ClaimIt expense categories (docs/finance/expense-limits-by-category.md). limit_eur is NULL
-- where the limit is a class of travel rather than an amount.
CREATE TABLE expense_limits (
    category  TEXT PRIMARY KEY,
    limit_eur REAL,
    unit      TEXT NOT NULL,
    rule      TEXT NOT NULL
);

INSERT INTO employees (id, name, office, hired_on, leave_entitlement, leave_taken, leave_carried_over) VALUES
    ('E1001', 'Claire Dubois',        'lyon',     '2009-09-07', 29,    24,   5),
    ('E1002', 'Thomas Martin',        'lyon',     '2012-03-05', 29,    27,   3),
    ('E1003', 'Anna Schneider',       'berlin',   '2014-01-06', 29,    30.5, 5),
    ('E1004', 'Marc-André Tremblay',  'montreal', '2015-06-01', 29,    20,   2),
    ('E1005', 'Julia Weber',          'berlin',   '2016-02-01', 28,    25,   4),
    ('E1006', 'Camille Lefèvre',      'lyon',     '2017-09-04', 28,    21.5, 5),
    ('E1007', 'Lukas Becker',         'berlin',   '2018-04-03', 28,    26,   1),
    ('E1008', 'Sophie Gagnon',        'montreal', '2019-11-04', 28,    18,   0),
    ('E1009', 'Nicolas Bernard',      'lyon',     '2020-01-06', 28,    17,   5),
    ('E1010', 'Émilie Roy',           'montreal', '2020-10-05', 28,    22,   3),
    ('E1011', 'Felix Hoffmann',       'berlin',   '2021-03-01', 27,    23,   2.5),
    ('E1012', 'Léa Moreau',           'lyon',     '2021-09-06', 27,    27,   0),
    ('E1013', 'Olivier Côté',         'montreal', '2022-05-02', 27,    28.5, 5),
    ('E1014', 'Hannah Fischer',       'berlin',   '2022-11-07', 27,    19,   4),
    ('E1015', 'Hugo Laurent',         'lyon',     '2023-01-09', 27,    14,   1.5),
    ('E1016', 'Maximilian Wagner',    'berlin',   '2023-09-04', 27,    24,   3),
    ('E1017', 'Chloé Bouchard',       'montreal', '2024-02-05', 27,    16.5, 0),
    ('E1018', 'Inès Girard',          'lyon',     '2025-09-01', 27,    17,   4),
    -- 2026 joiners: 10 months (March-December) and 7 months (June-December) at 2.25 days.
    ('E1019', 'Jonas Keller',         'berlin',   '2026-03-02', 22.5,  12,   0),
    ('E1020', 'Mathilde Roux',        'montreal', '2026-06-01', 15.75, 5,    0);

INSERT INTO tickets (id, summary, priority, status, category, opened_on, employee_id) VALUES
    ('IT-1031', 'ACME ID password expired, locked out of my laptop',           'high',   'Closed',          'Account and password', '2026-09-14', 'E1012'),
    ('IT-1032', 'Request for a Visio licence (not in Software Center)',        'low',    'Closed',          'Software',             '2026-09-16', 'E1006'),
    ('IT-1033', 'Laptop stolen from my car in Berlin',                         'urgent', 'Closed',          'Laptop',               '2026-09-22', 'E1016'),
    ('IT-1034', 'Printer PRN-0217 jams on every double-sided job',             'normal', 'Closed',          'Printer',              '2026-09-29', 'E1002'),
    ('IT-1035', 'Wi-Fi outage on the whole 3rd floor of the Berlin office',    'urgent', 'Closed',          'Wi-Fi',                '2026-10-05', 'E1005'),
    ('IT-1036', 'SecureLink shows SL-426 (client too old)',                    'normal', 'Closed',          'VPN',                  '2026-10-08', 'E1010'),
    ('IT-1037', 'Docking station does not detect my external monitor',         'normal', 'Closed',          'Laptop',               '2026-10-15', 'E1015'),
    ('IT-1038', 'MFA push prompts that I did not request',                     'urgent', 'Resolved',        'Account and password', '2026-10-21', 'E1004'),
    ('IT-1039', 'Cannot open the \\files.acme.example share from Montreal',    'normal', 'Closed',          'VPN',                  '2026-10-26', 'E1013'),
    ('IT-1040', 'Excel crashes when opening large workbooks',                  'normal', 'Resolved',        'Software',             '2026-11-02', 'E1009'),
    ('IT-1041', 'Laptop battery drains in two hours',                          'normal', 'Waiting for you', 'Laptop',               '2026-11-05', 'E1003'),
    ('IT-1042', 'SecureLink VPN disconnects every few minutes (SL-503)',       'normal', 'In progress',     'VPN',                  '2026-11-10', 'E1007'),
    ('IT-1043', 'Badge not recognised at the FollowMe printers',               'low',    'In progress',     'Printer',              '2026-11-12', 'E1019'),
    ('IT-1044', 'Access request for PayFlow still not approved',               'low',    'Waiting for you', 'Other',                '2026-11-13', 'E1014'),
    ('IT-1045', 'Cracked laptop screen, need a loaner',                        'high',   'Resolved',        'Laptop',               '2026-11-16', 'E1017'),
    ('IT-1046', 'Temporary admin rights to install a developer tool',          'low',    'New',             'Software',             '2026-11-17', 'E1011'),
    ('IT-1047', 'Personal iPad cannot join the ACME-Corp Wi-Fi',               'low',    'Resolved',        'Wi-Fi',                '2026-11-18', 'E1020'),
    ('IT-1048', 'Outlook keeps asking for my password after a reset',          'high',   'In progress',     'Account and password', '2026-11-19', 'E1001'),
    ('IT-1049', 'Scan to email fails for documents over 20 MB',                'low',    'New',             'Printer',              '2026-11-20', 'E1018'),
    ('IT-1050', 'SecureLink password expired (SL-410), reset page not loading','high',   'New',             'VPN',                  '2026-11-23', 'E1008');

INSERT INTO public_holidays (office, day, name) VALUES
    -- Lyon: 11 days (Whit Monday is a paid day off at ACME)
    ('lyon', '2026-01-01', 'New Year''s Day'),
    ('lyon', '2026-04-06', 'Easter Monday'),
    ('lyon', '2026-05-01', 'Labour Day'),
    ('lyon', '2026-05-08', 'Victory in Europe Day'),
    ('lyon', '2026-05-14', 'Ascension Day'),
    ('lyon', '2026-05-25', 'Whit Monday'),
    ('lyon', '2026-07-14', 'Bastille Day'),
    ('lyon', '2026-08-15', 'Assumption'),
    ('lyon', '2026-11-01', 'All Saints'' Day'),
    ('lyon', '2026-11-11', 'Armistice Day'),
    ('lyon', '2026-12-25', 'Christmas Day'),
    ('lyon', '2027-01-01', 'New Year''s Day'),
    ('lyon', '2027-03-29', 'Easter Monday'),
    ('lyon', '2027-05-01', 'Labour Day'),
    ('lyon', '2027-05-06', 'Ascension Day'),
    ('lyon', '2027-05-08', 'Victory in Europe Day'),
    ('lyon', '2027-05-17', 'Whit Monday'),
    ('lyon', '2027-07-14', 'Bastille Day'),
    ('lyon', '2027-08-15', 'Assumption'),
    ('lyon', '2027-11-01', 'All Saints'' Day'),
    ('lyon', '2027-11-11', 'Armistice Day'),
    ('lyon', '2027-12-25', 'Christmas Day'),
    -- Berlin: 10 days
    ('berlin', '2026-01-01', 'New Year''s Day'),
    ('berlin', '2026-03-08', 'International Women''s Day'),
    ('berlin', '2026-04-03', 'Good Friday'),
    ('berlin', '2026-04-06', 'Easter Monday'),
    ('berlin', '2026-05-01', 'Labour Day'),
    ('berlin', '2026-05-14', 'Ascension Day'),
    ('berlin', '2026-05-25', 'Whit Monday'),
    ('berlin', '2026-10-03', 'Day of German Unity'),
    ('berlin', '2026-12-25', 'Christmas Day'),
    ('berlin', '2026-12-26', 'Second Day of Christmas'),
    ('berlin', '2027-01-01', 'New Year''s Day'),
    ('berlin', '2027-03-08', 'International Women''s Day'),
    ('berlin', '2027-03-26', 'Good Friday'),
    ('berlin', '2027-03-29', 'Easter Monday'),
    ('berlin', '2027-05-01', 'Labour Day'),
    ('berlin', '2027-05-06', 'Ascension Day'),
    ('berlin', '2027-05-17', 'Whit Monday'),
    ('berlin', '2027-10-03', 'Day of German Unity'),
    ('berlin', '2027-12-25', 'Christmas Day'),
    ('berlin', '2027-12-26', 'Second Day of Christmas'),
    -- Montreal: 10 days (8 statutory, plus 2 January and Boxing Day from ACME;
    -- Good Friday rather than Easter Monday)
    ('montreal', '2026-01-01', 'New Year''s Day'),
    ('montreal', '2026-01-02', '2 January (ACME holiday)'),
    ('montreal', '2026-04-03', 'Good Friday'),
    ('montreal', '2026-05-18', 'National Patriots'' Day'),
    ('montreal', '2026-06-24', 'Fête nationale du Québec'),
    ('montreal', '2026-07-01', 'Canada Day'),
    ('montreal', '2026-09-07', 'Labour Day'),
    ('montreal', '2026-10-12', 'Thanksgiving'),
    ('montreal', '2026-12-25', 'Christmas Day'),
    ('montreal', '2026-12-26', 'Boxing Day (ACME holiday)'),
    ('montreal', '2027-01-01', 'New Year''s Day'),
    ('montreal', '2027-01-02', '2 January (ACME holiday)'),
    ('montreal', '2027-03-26', 'Good Friday'),
    ('montreal', '2027-05-24', 'National Patriots'' Day'),
    ('montreal', '2027-06-24', 'Fête nationale du Québec'),
    ('montreal', '2027-07-01', 'Canada Day'),
    ('montreal', '2027-09-06', 'Labour Day'),
    ('montreal', '2027-10-11', 'Thanksgiving'),
    ('montreal', '2027-12-25', 'Christmas Day'),
    ('montreal', '2027-12-26', 'Boxing Day (ACME holiday)');

INSERT INTO exchange_rates (currency, per_eur, as_of) VALUES
    ('EUR', 1.0,    '2026-11-20'),
    ('USD', 1.16,   '2026-11-20'),
    ('CAD', 1.63,   '2026-11-20'),
    ('GBP', 0.88,   '2026-11-20'),
    ('CHF', 0.93,   '2026-11-20'),
    ('JPY', 180.5,  '2026-11-20'),
    ('SEK', 10.95,  '2026-11-20'),
    ('PLN', 4.23,   '2026-11-20');

INSERT INTO expense_limits (category, limit_eur, unit, rule) VALUES
    ('meals', 25, 'EUR per person per meal',
     'Day trips and approved late work only. On trips with an overnight stay, claim the per-diem instead (50 EUR per day; 70 EUR in Paris, London, Zurich and New York).'),
    ('hotel', 140, 'EUR per night',
     'Nightly limit of the city, taxes and breakfast included: Lyon 130, Paris 200, Berlin 160, Munich 170, Hamburg 150, Frankfurt 160, Brussels 150, London 230, Zurich 250, Montreal 190, Toronto 200, New York 300 EUR; 140 EUR in all other cities. Book through TripDesk.'),
    ('flights', NULL, 'class of travel',
     'Economy class; premium economy for flights of 6 hours or more; business class only with CFO approval. Book through TripDesk.'),
    ('train', NULL, 'class of travel',
     'Second class; first class for journeys of 3 hours or more. Local public transport on business trips also goes here.'),
    ('taxi', 60, 'EUR per ride',
     'Only when public transport is impractical, with heavy equipment, or between 22:00 and 06:00. Ride-hailing is accepted.'),
    ('mileage', 0.32, 'EUR per km',
     'Private car on business trips. Trips over 500 km (round trip) need manager pre-approval. Tolls and parking at actual cost.'),
    ('client_entertainment', 80, 'EUR per attendee',
     'Names and companies of all attendees required. Manager pre-approval if the total exceeds 500 EUR.'),
    ('equipment', 250, 'EUR per employee per calendar year',
     'Small home-office items (chair, desk lamp, cables, adapters). Laptops, monitors, docking stations, headsets, phones and software come from IT and are never reimbursed.');
