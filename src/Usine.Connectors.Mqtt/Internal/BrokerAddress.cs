using MQTTnet;

namespace Usine.Connectors.Mqtt.Internal;

/// <summary>A broker URL: <c>mqtt://host[:port]</c> (plain TCP, 1883) or <c>mqtts://host[:port]</c> (TLS, 8883).</summary>
internal sealed record BrokerAddress(string Host, int Port, bool Tls)
{
    public static BrokerAddress Parse(Uri uri, string what)
    {
        if (!uri.IsAbsoluteUri || string.IsNullOrEmpty(uri.Host))
        {
            throw new ArgumentException($"{what}: '{uri}' is not a broker URL; write it as mqtt://HOST:PORT, for example mqtt://127.0.0.1:1883");
        }

        return uri.Scheme switch
        {
            "mqtt" or "tcp" => new BrokerAddress(uri.Host, uri.IsDefaultPort || uri.Port < 0 ? 1883 : uri.Port, false),
            "mqtts" => new BrokerAddress(uri.Host, uri.IsDefaultPort || uri.Port < 0 ? 8883 : uri.Port, true),
            _ => throw new ArgumentException($"{what}: scheme '{uri.Scheme}' of '{uri}' is not supported; use mqtt:// (TCP) or mqtts:// (TLS)"),
        };
    }

    public static BrokerAddress Parse(string text, string what)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            throw new ArgumentException($"{what}: '{text}' is not a broker URL; write it as mqtt://HOST:PORT, for example mqtt://127.0.0.1:1883");
        }

        return Parse(uri, what);
    }

    public MqttClientOptionsBuilder ApplyTo(MqttClientOptionsBuilder builder)
    {
        builder.WithTcpServer(Host, Port);
        if (Tls)
        {
            // Set explicitly: an empty TLS options builder leaves TLS off.
            builder.WithTlsOptions(o => o.UseTls());
        }

        return builder;
    }

    public override string ToString() => $"{(Tls ? "mqtts" : "mqtt")}://{Host}:{Port}";
}
