using Microsoft.AspNetCore.Http.HttpResults;

namespace Usine.Server.Endpoints;

/// <summary>The single error shape of the API: <c>{"error": "what to fix"}</c>.</summary>
public sealed record ApiError(string Error);

internal static class Errors
{
    public static JsonHttpResult<ApiError> Status(int status, string message) => TypedResults.Json(new ApiError(message), statusCode: status);

    public static JsonHttpResult<ApiError> BadRequest(string message) => Status(StatusCodes.Status400BadRequest, message);

    public static JsonHttpResult<ApiError> NotFound(string message) => Status(StatusCodes.Status404NotFound, message);
}
