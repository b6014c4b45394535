using System.Security.Cryptography;
using Usine.Security;

namespace Usine.Tests.Security;

public sealed class AuthDefinitionTests
{
    private static readonly string Hash = ApiKeys.HashText("usine_example");

    [Theory]
    [InlineData("auth:\n  keys:\n    - { name: a, hash: HASH, role: boss }\n", 3, "role 'boss' is not one of viewer, operator, admin")]
    [InlineData("auth:\n  keys:\n    - { name: a, hash: 'sha256:1234', role: viewer }\n", 3, "hash must be 'sha256:' and 64 hex digits")]
    [InlineData("auth:\n  keys:\n    - { name: a, hash: usine_abcdef, role: viewer }\n", 3, "this is a key, not its hash")]
    [InlineData("auth:\n  keys:\n    - { name: a, hash: HASH, role: viewer }\n    - { name: a, hash: HASH, role: admin }\n", 4, "two API keys are named 'a'")]
    [InlineData("auth:\n  keys:\n    - { name: a, hash: HASH, role: viewer }\n    - { name: b, hash: HASH, role: admin }\n", 4, "has the same hash as 'a'")]
    [InlineData("auth:\n  keys:\n    - { name: a, hash: HASH, role: viewer, plants: [] }\n", 3, "plants must name at least one plant")]
    [InlineData("auth:\n  keys:\n    - { name: a, hash: HASH, role: viewer, expires: someday }\n", 3, "expires 'someday' must be a date")]
    [InlineData("auth:\n  keys:\n    - { name: a, hash: HASH, role: viewer, scope: all }\n", 3, "unknown key 'scope' in an API key")]
    [InlineData("auth:\n  jwt:\n    issuer: https://idp\n    audience: usine\n    keys:\n      - secret: too-short\n", 6, "at least 32 bytes")]
    [InlineData("auth:\n  jwt:\n    issuer: https://idp\n    audience: usine\n    keys:\n      - secret: ${USINE_TEST_UNSET_SECRET}\n", 6, "environment variable USINE_TEST_UNSET_SECRET, which is not set")]
    [InlineData("auth:\n  jwt:\n    issuer: https://idp\n    audience: usine\n    clockSkew: 5m\n    keys:\n      - secret: 0123456789abcdef0123456789abcdef\n", 5, "clockSkew is at most 30s")]
    [InlineData("auth:\n  jwt:\n    issuer: https://idp\n    keys:\n      - secret: 0123456789abcdef0123456789abcdef\n", 3, "auth.jwt needs 'audience'")]
    [InlineData("auth:\n  jwt:\n    issuer: https://idp\n    audience: usine\n    keys:\n      - publicKey: missing.pem\n", 6, "does not exist")]
    [InlineData("auth:\n  keys: []\n", 2, "no API key and no jwt issuer")]
    [InlineData("auth:\n  users: []\n", 2, "unknown key 'users' in auth")]
    public void A_bad_auth_section_fails_at_start_naming_the_file_and_line(string yaml, int line, string problem)
    {
        var ex = Assert.Throws<DefinitionException>(() => DefinitionLoader.LoadText(yaml.Replace("HASH", Hash, StringComparison.Ordinal), "usine.yaml"));
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
        Assert.Equal(line, ex.Line);
    }

    [Fact]
    public void Keys_and_a_token_issuer_are_read_with_their_roles_plants_and_expiry()
    {
        var dir = Directory.CreateTempSubdirectory("usine-auth-def-").FullName;
        try
        {
            using var rsa = RSA.Create(2048);
            File.WriteAllText(Path.Combine(dir, "idp.pem"), rsa.ExportSubjectPublicKeyInfoPem());
            Environment.SetEnvironmentVariable("USINE_TEST_JWT_SECRET", "0123456789abcdef0123456789abcdef-from-env");
            File.WriteAllText(Path.Combine(dir, "usine.yaml"), $"""
                auth:
                  keys:
                    - name: flins-dashboard
                      hash: {Hash}
                      role: viewer
                      plants: [flins, douai]
                      expires: 2027-06-30
                  jwt:
                    issuer: https://idp.plant.example/
                    audience: usine
                    roleClaim: usine_role
                    clockSkew: 10s
                    keys:
                      - secret: ${"{"}USINE_TEST_JWT_SECRET{"}"}
                      - publicKey: idp.pem
                        id: rsa-2026
                """);
            var auth = DefinitionLoader.LoadFile(Path.Combine(dir, "usine.yaml")).Auth;
            Assert.True(auth.Enabled);
            var key = Assert.Single(auth.Keys);
            Assert.Equal(("flins-dashboard", Role.Viewer), (key.Name, key.Role));
            Assert.Equal(["douai", "flins"], key.Plants!.Order(StringComparer.Ordinal));
            Assert.Equal(new DateTimeOffset(2027, 6, 30, 0, 0, 0, TimeSpan.Zero), key.Expires);
            Assert.Same(key, ApiKeys.Find(auth.Keys, "usine_example"));
            Assert.Null(ApiKeys.Find(auth.Keys, "usine_other"));

            var jwt = auth.Jwt!;
            Assert.Equal(("https://idp.plant.example/", "usine", "usine_role", TimeSpan.FromSeconds(10)), (jwt.Issuer, jwt.Audience, jwt.RoleClaim, jwt.ClockSkew));
            Assert.Equal("0123456789abcdef0123456789abcdef-from-env", System.Text.Encoding.UTF8.GetString(jwt.Keys[0].Secret!));
            Assert.Equal("rsa-2026", jwt.Keys[1].Id);
            Assert.Contains("BEGIN PUBLIC KEY", jwt.Keys[1].PublicKeyPem, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("USINE_TEST_JWT_SECRET", null);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void New_keys_are_long_random_and_only_their_hash_is_kept()
    {
        var a = ApiKeys.New();
        var b = ApiKeys.New();
        Assert.NotEqual(a, b);
        Assert.StartsWith(ApiKeys.Prefix, a, StringComparison.Ordinal);
        Assert.Equal(ApiKeys.Prefix.Length + 43, a.Length);
        var hash = ApiKeys.HashText(a);
        Assert.DoesNotContain(a[ApiKeys.Prefix.Length..], hash, StringComparison.Ordinal);
        Assert.Equal(ApiKeys.Hash(a), ApiKeys.ParseHash(hash));
    }
}
