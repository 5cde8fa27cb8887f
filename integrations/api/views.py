from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.serializers import TokenRequestSerializer, TokenResponseSerializer
from integrations.services import staff_token_issue
from retailops.throttling import LoginRateThrottle


class InvalidCredentials(exceptions.AuthenticationFailed):
    default_code = "invalid_credentials"
    default_detail = "Unknown username or wrong password."


class StaffTokenView(APIView):
    """A staff user trades username and password for a personal, expiring API token."""

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
        user = authenticate(request._request, **serializer.validated_data)
        if user is None or not user.groups.exists():  # service users and role-less accounts get nothing
            raise InvalidCredentials()
        issued = staff_token_issue(user=user)
        return Response(
            TokenResponseSerializer({"token": issued.token, "expires_at": issued.client.expires_at}).data,
            status=status.HTTP_201_CREATED,
        )
