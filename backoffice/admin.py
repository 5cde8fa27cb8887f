"""Staff accounts in the Django admin, for ops admins: the user, their one role and the
stores they work at. Saving goes through `staff_user_access_set`, the same service as
`create_staff_user`, so the admin cannot give what the command could not: no superuser
flag, no permissions outside a role, no second role. Superusers' accounts and partners'
service users are not an ops admin's to change."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from backoffice.staff import staff_user_access_set, staff_user_locations
from integrations.services import SERVICE_USER_PREFIX
from inventory.selectors import locations_active
from retailops.errors import DomainError
from retailops.mfa import mfa_reset
from retailops.models import SecondFactorEvent
from retailops.roles import Role, role_of

User = get_user_model()


class StaffAccessFields(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    locations = forms.ModelMultipleChoiceField(
        queryset=locations_active(), required=False, widget=FilteredSelectMultiple("locations", is_stacked=False),
        help_text="The stores a store operations user works at; central roles work everywhere.")


class StaffUserCreationForm(AdminUserCreationForm, StaffAccessFields):
    pass


class StaffUserChangeForm(UserChangeForm, StaffAccessFields):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial.setdefault("role", role_of(self.instance))
            self.initial.setdefault("locations", list(staff_user_locations(self.instance).values_list("pk", flat=True)))


class ReasonActionForm(ActionForm):
    reason = forms.CharField(required=False, label="Reason",
                             help_text="Why (for actions that record one, such as resetting MFA).")


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    form = StaffUserChangeForm
    add_form = StaffUserCreationForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Role and stores", {"fields": ("role", "locations", "is_active")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2")}),
        ("Role and stores", {"fields": ("role", "locations")}),
    )
    readonly_fields = ["last_login", "date_joined"]
    list_display = ["username", "role", "first_name", "last_name", "is_active", "last_login"]
    list_filter = ["groups", "is_active"]
    filter_horizontal = []
    action_form = ReasonActionForm
    actions = ["reset_second_factor"]

    @admin.display(description="role")
    def role(self, user) -> str:
        role = role_of(user)
        return Role(role).label if role else "—"

    def get_queryset(self, request):
        users = super().get_queryset(request).prefetch_related("groups")
        if not request.user.is_superuser:
            users = users.exclude(username__startswith=SERVICE_USER_PREFIX)
        return users

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        staff_user_access_set(user=obj, role=form.cleaned_data["role"],
                              location_codes=[location.code for location in form.cleaned_data["locations"]])

    @admin.action(description="Reset MFA: remove the authenticator app and recovery codes", permissions=["change"])
    def reset_second_factor(self, request, queryset):
        """A lost phone: the person enrols again at their next sign-in. Recorded with who and why."""
        reason = request.POST.get("reason", "")
        reset = []
        for user in queryset:
            if user.is_superuser and not request.user.is_superuser:
                continue
            try:
                mfa_reset(user=user, actor=request.user, reason=reason)
            except DomainError as error:
                self.message_user(request, error.detail, messages.ERROR)
                return
            reset.append(user.get_username())
        self.message_user(request, f"MFA reset for {', '.join(reset) or 'nobody'}; they enrol again at their "
                                   "next sign-in.", messages.SUCCESS)


@admin.register(SecondFactorEvent)
class SecondFactorEventAdmin(admin.ModelAdmin):
    """The second factor's record (enrolments, verifications, refused codes, resets): read only."""

    list_display = ["occurred_at", "user", "kind", "address", "actor", "reason"]
    list_filter = ["kind"]
    search_fields = ["user__username"]
    list_select_related = ["user", "actor"]
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
