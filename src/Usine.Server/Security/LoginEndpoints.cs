using System.Net;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Usine.Security;

namespace Usine.Server.Security;

/// <summary>The UI's sign-in: a person pastes an API key or a bearer token once and gets a session cookie.</summary>
internal static class LoginEndpoints
{
    public static string LoginPath(string returnUrl) => "/login?returnUrl=" + Uri.EscapeDataString(returnUrl);

    public static IEndpointRouteBuilder MapLogin(this IEndpointRouteBuilder app)
    {
        app.MapGet("/login", (HttpContext http, AuthDefinition auth, string? returnUrl) => auth.Enabled
            ? Page(null, Safe(returnUrl))
            : Results.Redirect(Safe(returnUrl))).AllowAnonymous().ExcludeFromDescription();

        app.MapPost("/login", async (HttpContext http, AuthDefinition auth, TimeProvider time) =>
        {
            if (!auth.Enabled)
            {
                return Results.Redirect("/");
            }

            var form = await http.Request.ReadFormAsync(http.RequestAborted);
            var credential = form["credential"].ToString().Trim();
            var returnUrl = Safe(form["returnUrl"].ToString());
            if (credential.Length == 0)
            {
                return Page("Paste an API key or a bearer token.", returnUrl, StatusCodes.Status400BadRequest);
            }

            var props = new AuthenticationProperties { IsPersistent = false };
            Caller? caller;
            string? error;
            string? keyName = null;
            if (credential.StartsWith(ApiKeys.Prefix, StringComparison.Ordinal) || http.RequestServices.GetService<JwtValidation>() is not { } jwt)
            {
                (caller, error) = UsineAuth.CheckKey(auth, credential, time.GetUtcNow());
                var key = ApiKeys.Find(auth.Keys, credential);
                keyName = key?.Name;
                caller = caller is null ? null : caller with { Expires = key?.Expires };
            }
            else
            {
                var result = await new JsonWebTokenHandler { MapInboundClaims = false }.ValidateTokenAsync(credential, jwt.Parameters);
                if (!result.IsValid)
                {
                    (caller, error) = (null, jwt.Describe(result.Exception));
                }
                else
                {
                    (caller, error) = jwt.Map(new System.Security.Claims.ClaimsPrincipal(result.ClaimsIdentity));
                    caller = caller is null ? null : caller with { Expires = new DateTimeOffset(result.SecurityToken.ValidTo, TimeSpan.Zero) };

                    // The session ends when the token does.
                    props.ExpiresUtc = result.SecurityToken.ValidTo;
                    props.AllowRefresh = false;
                }
            }

            if (caller is null)
            {
                return Page(error, returnUrl, StatusCodes.Status401Unauthorized);
            }

            var principal = caller.ToPrincipal(UsineAuth.CookieScheme, keyName is null ? null : [new System.Security.Claims.Claim(UsineAuth.KeyClaim, keyName)]);
            await http.SignInAsync(UsineAuth.CookieScheme, principal, props);
            return Results.Redirect(returnUrl);
        }).AllowAnonymous().DisableAntiforgery().ExcludeFromDescription();

        app.MapPost("/logout", async (HttpContext http, AuthDefinition auth) =>
        {
            if (auth.Enabled)
            {
                await http.SignOutAsync(UsineAuth.CookieScheme);
            }

            return Results.Redirect(auth.Enabled ? "/login" : "/");
        }).AllowAnonymous().DisableAntiforgery().ExcludeFromDescription();
        return app;
    }

    /// <summary>Only a path of this site: never an absolute or protocol-relative address someone slipped into the link.</summary>
    private static string Safe(string? returnUrl) =>
        returnUrl is { Length: > 0 } u && u[0] == '/' && !u.StartsWith("//", StringComparison.Ordinal) && !u.StartsWith("/\\", StringComparison.Ordinal) ? u : "/";

    private static IResult Page(string? error, string returnUrl, int status = StatusCodes.Status200OK)
    {
        var message = error is null ? "" : $"""<p class="error" role="alert">{WebUtility.HtmlEncode(error)}</p>""";
        var html = $"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8" /><meta name="viewport" content="width=device-width, initial-scale=1" />
            <title>Usine · Sign in</title><link rel="stylesheet" href="/ui/app.css" /></head>
            <body><header class="topbar"><span class="brand">Usine</span></header>
            <main class="login">
            <h1>Sign in</h1>
            <p>Paste the API key or the bearer token you were given. It is checked once; the browser then keeps a session
            that ends after 8 hours without use, when the token expires, or when the key is removed.</p>
            {message}
            <form method="post" action="/login">
              <input type="hidden" name="returnUrl" value="{WebUtility.HtmlEncode(returnUrl)}" />
              <label for="credential">API key or token</label>
              <input id="credential" name="credential" type="password" autocomplete="off" autofocus required />
              <button type="submit">Sign in</button>
            </form>
            </main></body></html>
            """;
        return Results.Content(html, "text/html; charset=utf-8", System.Text.Encoding.UTF8, status);
    }
}
