

def test_the_dashboard_shows_retention_status_to_the_compliance_officer_and_not_to_a_regular_user(browser_for, log):
    officer_page = browser_for("compliance").get("/").content.decode()
    regular_page = browser_for("regular").get("/").content.decode()

    assert 'id="retention-status"' in officer_page and "Hot · 6" in officer_page and "No run yet" in officer_page
    assert 'id="retention-status"' not in regular_page
