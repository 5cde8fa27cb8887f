from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.serializers import TokenRequestSerializer, TokenResponseSerializer
from integrations.services import staff_token_issue
from retailops.mfa import authenticator_of, mfa_code_check, mfa_required_for
from retailops.signin import locked_out_response
from retailops.throttling import LoginRateThrottle


class InvalidCredentials(exceptions.AuthenticationFailed):
    default_code = "invalid_credentials"
    default_detail = "Unknown username or wrong password."


class SecondFactorMissing(exceptions.AuthenticationFailed):
    default_code = "mfa_required"
    default_detail = ("This account gives a second factor after its password: send the code from your "
                      "authenticator app as \"code\".")


class SecondFactorNotEnrolled(exceptions.PermissionDenied):
    default_code = "mfa_enrolment_required"
    default_detail = ("This account gives a second factor after its password and has no authenticator app "
                      "yet: sign in on the staff screens once to enrol one.")


class WrongSecondFactor(exceptions.AuthenticationFailed):
    default_code = "invalid_mfa_code"
    default_detail = "The code is wrong or already used."


class StaffTokenView(APIView):
    """A staff user trades username and password (and, for those who give one at sign-in,
    a second-factor code) for a personal, expiring API token. The password alone never
    gets a token that the screens would only give after a code."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'

    @extend_schema(summary="Issue a personal API token for a staff user", request=TokenRequestSerializer,
                   responses={201: TokenResponseSerializer}, auth=[])
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credentials = serializer.validated_data
        # django-axes reads the address through the DRF request and marks a lockout on it.
        user = authenticate(request, username=credentials["username"], password=credentials["password"])
        if getattr(request, "axes_locked_out", False):
            return locked_out_response(request)
        if user is None or not user.groups.exists():  # service users and role-less accounts get nothing
            raise InvalidCredentials()
        if mfa_required_for(user):
            if authenticator_of(user) is None:
                raise SecondFactorNotEnrolled()
            if not credentials.get("code", "").strip():
                raise SecondFactorMissing()
            if not mfa_code_check(request=request, user=user, token=credentials["code"]):
                if getattr(request, "axes_locked_out", False):
                    return locked_out_response(request)
                raise WrongSecondFactor()
        issued = staff_token_issue(user=user)
        return Response(
            TokenResponseSerializer({"token": issued.token, "expires_at": issued.client.expires_at}).data,
            status=status.HTTP_201_CREATED,
        )

