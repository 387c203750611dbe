from django.urls import path

from cases import access_views, identity_views, retention_views, views, workday_views

app_name = "cases"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("list/", views.case_list, name="list"),
    path("list/assign/", views.bulk_assign, name="bulk_assign"),
    path("new/", views.register, name="register"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/transition/", views.transition, name="transition"),
    path("<int:pk>/assign/", views.assign, name="assign"),
    path("<int:pk>/transfer/", views.transfer, name="transfer"),
    path("<int:pk>/share/", views.share, name="share"),
    path("<int:pk>/unshare/", views.unshare, name="unshare"),
    path("<int:pk>/siblings/", views.link_sibling, name="link_sibling"),
    path("<int:pk>/contacts/new/", views.guardian_edit, name="guardian_add"),
    path("<int:pk>/contacts/<int:guardian_pk>/", views.guardian_edit, name="guardian_edit"),
]

# Data protection: right of access (Art. 15 GDPR) and retention (issue 7).
urlpatterns += [
    path("<int:pk>/auskunft/", access_views.access_report, name="access_report"),
    path("<int:pk>/auskunft.json", access_views.access_report_json, name="access_report_json"),
    path("retention/", retention_views.retention_overview, name="retention"),
    path("retention/offer/", retention_views.retention_offer, name="retention_offer"),
    path("retention/decision/", retention_views.retention_decision, name="retention_decision"),
]

# Identity: the duplicate report (administrators) and merging two cases (issue 16).
urlpatterns += [
    path("duplicates/", identity_views.duplicates_report, name="duplicates"),
    path("<int:pk>/merge/", identity_views.merge, name="merge"),
]

# The working day: work queue, follow-ups, the case journal (issue 17).
urlpatterns += [
    path("<int:pk>/seen/", workday_views.work_item_seen, name="work_item_seen"),
    path("<int:pk>/followups/", workday_views.followup_add, name="followup_add"),
    path(
        "<int:pk>/followups/<int:followup_pk>/close/",
        workday_views.followup_close,
        name="followup_close",
    ),
    path(
        "<int:pk>/followups/<int:followup_pk>/postpone/",
        workday_views.followup_move,
        name="followup_postpone",
    ),
    path("<int:pk>/journal/", workday_views.journal_new, name="journal_add"),
]
