"""The site's own 404 and 500 pages."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

from tests.ui_fixtures import english_afterwards  # noqa: F401 (autouse fixture)


def test_500_page_renders_without_a_request_context():
    response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert 'class="site-header"' in html and "Something went wrong" in html and 'href="/"' in html


@pytest.mark.django_db
def test_404_page_looks_like_the_site(client):
    response = client.get("/p/none/", headers={"accept-language": "zh-CN"})
    html = response.content.decode()
    assert response.status_code == 404
    assert 'class="site-header"' in html and "页面不存在" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"), [("get", "/history/delete/"), ("get", "/history/1/delete/"), ("post", "/")]
)
def test_a_wrong_method_gets_a_page_not_a_blank_one(client, method: str, path: str):
    response = getattr(client, method)(path)
    html = response.content.decode()
    assert response.status_code == 405 and response.has_header("Allow")
    assert 'class="site-header"' in html and "Nothing to show here" in html and 'href="/"' in html
