from django.test import override_settings
from django.conf import settings as s
MW = list(s.MIDDLEWARE)
@override_settings(MIDDLEWARE=MW)
def test_lang(client, coordinator):
    from django.test import Client
    c = Client(raise_request_exception=False)
    c.force_login(coordinator)
    r = c.post("/language/", {"language": "en"})
    print("RESULT full-override", r.status_code)
def test_lang2(client, coordinator):
    from django.test import Client
    c = Client(raise_request_exception=False)
    c.force_login(coordinator)
    r = c.post("/language/", {"language": "en"})
    print("RESULT plain", r.status_code)
