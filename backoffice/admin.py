"""Staff accounts in the Django admin, for ops admins: the user, their one role and the
stores they work at. Saving goes through `staff_user_access_set`, the same service as
`create_staff_user`, so the admin cannot give what the command could not: no superuser
flag, no permissions outside a role, no second role. Superusers' accounts and partners'
service users are not an ops admin's to change."""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from backoffice.staff import staff_user_access_set, staff_user_locations
from integrations.services import SERVICE_USER_PREFIX
from inventory.selectors import locations_active
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
