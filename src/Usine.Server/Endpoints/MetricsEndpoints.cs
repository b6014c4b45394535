using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Usine.Server.Endpoints;

internal static class MetricsEndpoints
{
    /// <summary>
    /// The meter <c>Usine</c> through OpenTelemetry, scraped in the Prometheus text format at <c>GET /metrics</c>.
    /// </summary>
    public static WebApplicationBuilder AddUsineMetrics(this WebApplicationBuilder builder)
    {
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("usine"))
            .WithMetrics(metrics => metrics
            .AddMeter(UsineMetrics.MeterName)

            // The default of 2000 series per metric is less than the 3000+ sources of a large site.
            .AddView(instrument => instrument.Meter.Name == UsineMetrics.MeterName ? new MetricStreamConfiguration { CardinalityLimit = 100_000 } : null)
            .AddPrometheusExporter());
        return builder;
    }

    public static WebApplication MapUsineMetrics(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
