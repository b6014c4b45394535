using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Encoding;
using Usine.Connectors.OpcUa.Transport;

namespace Usine.Connectors.OpcUa.Client;

/// <summary>
/// An OPC UA client session over one secure channel at a time: finds the endpoint (GetEndpoints), opens the channel
/// with the security the options ask for, creates and activates the session (anonymous or user name), calls the
/// services (Browse, Read, subscriptions), and after a lost connection opens a new channel and activates the same
/// session on it — or, when the server no longer has it, a new one. It does not reconnect by itself: the owner
/// watches <see cref="ConnectionLost"/> and calls <see cref="ReconnectAsync"/>, so that it decides the backoff.
/// </summary>
public sealed partial class OpcUaClient : IAsyncDisposable
{
    private readonly OpcUaClientOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private SecureChannel? _channel;
    private EndpointDescription? _endpoint;
    private NodeId _authenticationToken = NodeId.Null;
    private byte[] _serverNonce = [];
    private byte[] _serverCertificate = [];

    public OpcUaClient(OpcUaClientOptions options, ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    public OpcUaClientOptions Options => _options;

    /// <summary>The endpoint chosen among those the server offers.</summary>
    public EndpointDescription? Endpoint => _endpoint;

    /// <summary>The session's id, as the server named it.</summary>
    public NodeId? SessionId { get; private set; }

    /// <summary>The session timeout the server granted.</summary>
    public TimeSpan SessionTimeout { get; private set; }

    /// <summary>The current channel (a new one after each reconnect).</summary>
    public SecureChannel? Channel => _channel;

    /// <summary>Completes with the reason when the current channel closes.</summary>
    public Task<Exception> ConnectionLost => _channel?.Closed ?? Task.FromResult<Exception>(new InvalidOperationException("not connected"));

    /// <summary>Finds the endpoint, opens a channel, creates and activates a session.</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        _endpoint = await SelectEndpointAsync(cancellationToken);
        await OpenChannelAsync(cancellationToken);
        try
        {
            await CreateSessionAsync(cancellationToken);
            await ActivateSessionAsync(cancellationToken);
        }
        catch
        {
            await _channel!.CloseAsync();
            throw;
        }
    }

    /// <summary>
    /// Opens a new channel after the last one was lost and activates the session on it; creates a new session
    /// when the server no longer knows the old one.
    /// </summary>
    public async Task<SessionRecovery> ReconnectAsync(CancellationToken cancellationToken)
    {
        if (_channel is { } old)
        {
            await old.DisposeAsync();
        }

        _endpoint ??= await SelectEndpointAsync(cancellationToken);
        await OpenChannelAsync(cancellationToken);
        try
        {
            if (!_authenticationToken.IsNull)
            {
                try
                {
                    await ActivateSessionAsync(cancellationToken);
                    LogReactivated(_logger, _options.Endpoint.ToString(), SessionId?.ToString() ?? "");
                    return SessionRecovery.Reactivated;
                }
                catch (OpcUaException ex) when (IsSessionGone(ex.Status))
                {
                    LogSessionGone(_logger, _options.Endpoint.ToString(), SessionId?.ToString() ?? "", ex.Status.Name);
                }
            }

            await CreateSessionAsync(cancellationToken);
            await ActivateSessionAsync(cancellationToken);
            return SessionRecovery.NewSession;
        }
        catch
        {
            await _channel!.CloseAsync();
            throw;
        }
    }

    private static bool IsSessionGone(StatusCode status) => (status.Code & 0xFFFF0000) is 0x80250000 or 0x80260000 or 0x80270000 or 0x80220000;

    /// <summary>Closes the session (its subscriptions with it) and the channel.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        if (_channel is { IsOpen: true } channel && !_authenticationToken.IsNull)
        {
            try
            {
                await CallAsync(TypeIds.CloseSessionRequest, "CloseSession", true, static (e, deleteSubscriptions) => e.WriteBoolean(deleteSubscriptions), TimeSpan.FromSeconds(5), cancellationToken);
            }
            catch (OpcUaException ex)
            {
                LogCloseFailed(_logger, _options.Endpoint.ToString(), ex.Message);
            }

            _authenticationToken = NodeId.Null;
            await channel.CloseAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), _time);
        try
        {
            await CloseAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }

        if (_channel is not null)
        {
            await _channel.DisposeAsync();
        }
    }

    private async Task OpenChannelAsync(CancellationToken ct)
    {
        var security = CreateSecurity(_endpoint!);
        _channel = new SecureChannel(_options.Endpoint, security, _options.Channel, _logger, _time);
        await _channel.OpenAsync(ct);
    }

    private IChannelSecurity CreateSecurity(EndpointDescription endpoint)
    {
        if (_options.SecurityMode == MessageSecurityMode.None)
        {
            return NoSecurity.Instance;
        }

        var provider = FindProvider(_options.SecurityPolicyUri)
            ?? throw new OpcUaException(
                $"security {_options.SecurityMode} with policy {_options.SecurityPolicyUri} is asked for, but this build of Usine has no implementation of that policy registered; use security: none or register the policy",
                new StatusCode(0x80590000),
                false);
        return provider.Create(new ChannelSecurityRequest(
            _options.SecurityMode,
            _options.SecurityPolicyUri,
            endpoint.ServerCertificate ?? [],
            _options.TrustFolder,
            _options.DataDirectory,
            _options.ApplicationUri));
    }

    private IChannelSecurityProvider? FindProvider(string policyUri) =>
        _options.SecurityProviders.FirstOrDefault(p => string.Equals(p.PolicyUri, policyUri, StringComparison.Ordinal));

    /// <summary>Asks the server for its endpoints over a None channel and picks the one the options ask for.</summary>
    private async Task<EndpointDescription> SelectEndpointAsync(CancellationToken ct)
    {
        var endpoints = await GetEndpointsAsync(ct);
        var wantedPolicy = _options.SecurityMode == MessageSecurityMode.None ? NoSecurity.Uri : _options.SecurityPolicyUri;
        var path = NormalizePath(_options.Endpoint);
        var atPath = endpoints.Where(e => Uri.TryCreate(e.EndpointUrl, UriKind.Absolute, out var u) && NormalizePath(u) == path).ToList();
        if (atPath.Count == 0)
        {
            var known = string.Join(", ", endpoints.Select(e => e.EndpointUrl).Distinct());
            throw new OpcUaException($"the server at {_options.Endpoint.Authority} has no endpoint {_options.Endpoint.AbsolutePath}; its endpoints are {known}", new StatusCode(0x80840000), false);
        }

        var match = atPath
            .Where(e => e.SecurityMode == _options.SecurityMode && e.SecurityPolicyUri == wantedPolicy)
            .Where(e => e.TransportProfileUri is null || e.TransportProfileUri.EndsWith("uatcp-uasc-uabinary", StringComparison.OrdinalIgnoreCase))
            .OrderByDescending(e => e.SecurityLevel)
            .FirstOrDefault();
        if (match is null)
        {
            var offered = string.Join(", ", atPath.Select(e => $"{e.SecurityMode} {e.SecurityPolicyUri?.Split('#').LastOrDefault()}").Distinct());
            throw new OpcUaException($"{_options.Endpoint} offers no endpoint with security {_options.SecurityMode} {wantedPolicy.Split('#').Last()}; it offers {offered}", new StatusCode(0x80580000), false);
        }

        return match;
    }

    private static string NormalizePath(Uri uri) => uri.AbsolutePath.TrimEnd('/').ToUpperInvariant();

    /// <summary>GetEndpoints on a channel of its own with security None, as discovery is done (OPC 10000-4 §5.4.4).</summary>
    public async Task<IReadOnlyList<EndpointDescription>> GetEndpointsAsync(CancellationToken cancellationToken)
    {
        await using var discovery = new SecureChannel(_options.Endpoint, NoSecurity.Instance, _options.Channel, _logger, _time);
        await discovery.OpenAsync(cancellationToken);
        var response = await discovery.SendAsync(TypeIds.GetEndpointsRequest, (discovery, url: _options.Endpoint.ToString()), static (e, s) =>
        {
            s.discovery.WriteRequestHeader(e, NodeId.Null, 0);
            e.WriteString(s.url);
            e.WriteInt32(-1); // locale ids
            e.WriteInt32(-1); // profile uris
        }, _options.RequestTimeout, cancellationToken);
        var d = new BinaryDecoder(response.Buffer.AsSpan(response.Offset));
        ResponseHeader.Read(ref d, response.TypeId, "GetEndpoints");
        var count = d.ReadLength();
        var endpoints = new EndpointDescription[count];
        for (var i = 0; i < count; i++)
        {
            endpoints[i] = EndpointDescription.Read(ref d);
        }

        return endpoints;
    }

    private async Task CreateSessionAsync(CancellationToken ct)
    {
        var clientNonce = RandomNumberGenerator.GetBytes(32);
        var state = (options: _options, nonce: clientNonce, certificate: _channel!.Security.LocalCertificate);
        var response = await CallAsync(TypeIds.CreateSessionRequest, "CreateSession", state, static (e, s) =>
        {
            e.WriteString(s.options.ApplicationUri);
            e.WriteString("urn:usine:opcua-client"); // product URI
            e.WriteLocalizedText(new LocalizedText(null, "Usine"));
            e.WriteInt32(1); // application type Client
            e.WriteString(null); // gateway server URI
            e.WriteString(null); // discovery profile URI
            e.WriteInt32(-1); // discovery URLs
            e.WriteString(null); // server URI
            e.WriteString(s.options.Endpoint.ToString());
            e.WriteString(s.options.SessionName);
            e.WriteByteString(s.nonce);
            e.WriteByteString(s.certificate.Span, s.certificate.IsEmpty);
            e.WriteDouble(s.options.SessionTimeout.TotalMilliseconds);
            e.WriteUInt32(0); // max response message size: the channel's limits apply
        }, _options.RequestTimeout, ct, authenticate: false);

        var d = new BinaryDecoder(response.Buffer.AsSpan(response.Offset));
        ResponseHeader.Read(ref d, response.TypeId, "CreateSession");
        SessionId = d.ReadNodeId();
        _authenticationToken = d.ReadNodeId();
        SessionTimeout = TimeSpan.FromMilliseconds(d.ReadDouble());
        _serverNonce = d.ReadByteString() ?? [];
        _serverCertificate = d.ReadByteString() ?? [];
        var serverEndpoints = new EndpointDescription[Math.Max(0, d.ReadLength())];
        for (var i = 0; i < serverEndpoints.Length; i++)
        {
            serverEndpoints[i] = EndpointDescription.Read(ref d);
        }

        for (var i = d.ReadLength(); i > 0; i--)
        {
            d.ReadByteString(); // signed software certificate: data
            d.ReadByteString(); // and its signature
        }

        var signatureAlgorithm = d.ReadString();
        var signature = d.ReadByteString() ?? [];
        CheckSessionProof(state.certificate, clientNonce, serverEndpoints, signature, signatureAlgorithm);
        LogSessionCreated(_logger, _options.Endpoint.ToString(), SessionId.ToString(), SessionTimeout.TotalMilliseconds);
    }

    /// <summary>
    /// Under a security policy, the server proves in CreateSession that it holds the key of the certificate the
    /// channel was opened with, and repeats its endpoints so that a downgraded GetEndpoints answer shows (OPC 10000-4
    /// §5.6.2). A session that fails either check is not used.
    /// </summary>
    private void CheckSessionProof(ReadOnlyMemory<byte> clientCertificate, byte[] clientNonce, EndpointDescription[] serverEndpoints, byte[] signature, string? algorithm)
    {
        var endpoint = _endpoint!;
        if (endpoint.SecurityMode == MessageSecurityMode.None)
        {
            return;
        }

        const uint securityChecksFailed = 0x80130000;
        if (endpoint.ServerCertificate is { Length: > 0 } expected && !expected.AsSpan().SequenceEqual(_serverCertificate))
        {
            throw new OpcUaException(
                $"{_options.Endpoint} answered CreateSession with another certificate than the one its endpoint showed; the session is not used",
                new StatusCode(securityChecksFailed), false);
        }

        if (serverEndpoints.Length > 0 && !serverEndpoints.Any(e => e.SecurityMode == endpoint.SecurityMode && e.SecurityPolicyUri == endpoint.SecurityPolicyUri))
        {
            throw new OpcUaException(
                $"{_options.Endpoint} does not list the endpoint it was reached by ({endpoint.SecurityPolicyUri}, {endpoint.SecurityMode}) in CreateSession; " +
                "its GetEndpoints answer may have been altered on the way, and the session is not used",
                new StatusCode(securityChecksFailed), false);
        }

        try
        {
            _channel!.Security.VerifySessionProof(clientCertificate.Span, clientNonce, signature, algorithm);
        }
        catch (CryptographicException ex)
        {
            throw new OpcUaException($"{_options.Endpoint} failed to prove its identity in CreateSession: {ex.Message}", new StatusCode(securityChecksFailed), false, ex);
        }
    }

    private async Task ActivateSessionAsync(CancellationToken ct)
    {
        var (signature, algorithm) = _channel!.Security.SignSessionProof(_serverCertificate, _serverNonce);
        var identity = IdentityToken();
        var response = await CallAsync(TypeIds.ActivateSessionRequest, "ActivateSession", (signature, algorithm, identity), static (e, s) =>
        {
            e.WriteString(s.algorithm);
            e.WriteByteString(s.algorithm is null ? null : s.signature);
            e.WriteInt32(-1); // client software certificates
            e.WriteInt32(-1); // locale ids
            s.identity(e);
            e.WriteString(null); // user token signature: algorithm
            e.WriteByteString(null);
        }, _options.RequestTimeout, ct);
        var d = new BinaryDecoder(response.Buffer.AsSpan(response.Offset));
        ResponseHeader.Read(ref d, response.TypeId, _options.UserName is null ? "ActivateSession (anonymous)" : $"ActivateSession as user '{_options.UserName}'");
        _serverNonce = d.ReadByteString() ?? [];
    }

    private Action<BinaryEncoder> IdentityToken()
    {
        var endpoint = _endpoint!;
        if (_options.UserName is null)
        {
            var anonymous = endpoint.UserIdentityTokens.FirstOrDefault(t => t.TokenType == UserTokenType.Anonymous)
                ?? throw new OpcUaException($"{_options.Endpoint} does not accept anonymous sessions; set user: {{ name, password }}", new StatusCode(0x80210000), false);
            return e => e.WriteExtensionObject(new NodeId(0, TypeIds.AnonymousIdentityToken), anonymous.PolicyId, static (b, id) => b.WriteString(id));
        }

        // The password travels as the token policy says; a policy without its own URI takes the endpoint's. Of the
        // policies the endpoint offers, one that encrypts the password with a policy this client has comes first.
        string TokenPolicy(UserTokenPolicy p) => string.IsNullOrEmpty(p.SecurityPolicyUri) ? endpoint.SecurityPolicyUri ?? NoSecurity.Uri : p.SecurityPolicyUri;
        var candidates = endpoint.UserIdentityTokens.Where(t => t.TokenType == UserTokenType.UserName).ToList();
        if (candidates.Count == 0)
        {
            throw new OpcUaException($"{_options.Endpoint} does not accept user names at security {endpoint.SecurityMode}; remove user: or choose another security", new StatusCode(0x80210000), false);
        }

        var policy = candidates.FirstOrDefault(p => TokenPolicy(p) != NoSecurity.Uri && FindProvider(TokenPolicy(p)) is not null)
            ?? candidates.FirstOrDefault(p => TokenPolicy(p) == NoSecurity.Uri)
            ?? candidates[0];
        var tokenPolicy = TokenPolicy(policy);
        var secret = System.Text.Encoding.UTF8.GetBytes(_options.Password ?? "");
        byte[] password;
        string? algorithm;
        if (tokenPolicy == NoSecurity.Uri)
        {
            password = secret;
            algorithm = null;
        }
        else
        {
            var provider = FindProvider(tokenPolicy)
                ?? throw new OpcUaException($"{_options.Endpoint} wants the password encrypted with {tokenPolicy}, which this build of Usine has no implementation of", new StatusCode(0x80590000), false);
            (password, algorithm) = provider.EncryptUserSecret(secret, _serverNonce, endpoint.ServerCertificate ?? _serverCertificate);
        }

        var token = (id: policy.PolicyId, user: _options.UserName, password, algorithm);
        return e => e.WriteExtensionObject(new NodeId(0, TypeIds.UserNameIdentityToken), token, static (b, t) =>
        {
            b.WriteString(t.id);
            b.WriteString(t.user);
            b.WriteByteString(t.password);
            b.WriteString(t.algorithm);
        });
    }

    /// <summary>Calls a service on the session: the RequestHeader with the authentication token, then the body <paramref name="writeBody"/> writes.</summary>
    internal Task<ServiceResponse> CallAsync<TState>(uint typeId, string service, TState state, Action<BinaryEncoder, TState> writeBody, TimeSpan timeout, CancellationToken ct, bool authenticate = true)
    {
        var channel = _channel ?? throw new InvalidOperationException($"{service}: the client is not connected; call ConnectAsync first");
        var token = authenticate ? _authenticationToken : NodeId.Null;
        var hint = (uint)Math.Min(uint.MaxValue, timeout.TotalMilliseconds);
        return channel.SendAsync(typeId, (channel, token, hint, state, writeBody), static (e, s) =>
        {
            s.channel.WriteRequestHeader(e, s.token, s.hint);
            s.writeBody(e, s.state);
        }, timeout, ct);
    }

    // Log events 2120-2139: the session.
    [LoggerMessage(2120, LogLevel.Information, "OPC UA {Endpoint}: session {SessionId} created (timeout {Timeout} ms)")]
    private static partial void LogSessionCreated(ILogger logger, string endpoint, string sessionId, double timeout);

    [LoggerMessage(2121, LogLevel.Information, "OPC UA {Endpoint}: session {SessionId} activated again on a new channel")]
    private static partial void LogReactivated(ILogger logger, string endpoint, string sessionId);

    [LoggerMessage(2122, LogLevel.Warning, "OPC UA {Endpoint}: session {SessionId} is gone ({Status}); creating a new one")]
    private static partial void LogSessionGone(ILogger logger, string endpoint, string sessionId, string status);

    [LoggerMessage(2123, LogLevel.Debug, "OPC UA {Endpoint}: closing the session failed: {Reason}")]
    private static partial void LogCloseFailed(ILogger logger, string endpoint, string reason);
}
