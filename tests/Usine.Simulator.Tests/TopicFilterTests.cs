namespace Usine.Simulator.Tests;

public sealed class TopicFilterTests
{
    [Theory]
    [InlineData("usine/+/+/+/+/screwing", "usine/flins/assembly/A1/ST010/screwing", true)]
    [InlineData("usine/+/+/+/+/screwing", "usine/flins/assembly/A1/ST010/state", false)]
    [InlineData("usine/+/+/+/+/screwing", "usine/flins/assembly/A1/screwing", false)]
    [InlineData("usine/+/+/+/+/screwing", "usine/flins/assembly/A1/ST010/screwing/extra", false)]
    [InlineData("usine/#", "usine/flins/assembly/A1/ST010/screwing", true)]
    [InlineData("usine/#", "usine", true)]
    [InlineData("usine/#", "usines/flins", false)]
    [InlineData("#", "anything/at/all", true)]
    [InlineData("+", "one", true)]
    [InlineData("+", "one/two", false)]
    [InlineData("+/+", "/finance", true)]
    [InlineData("/+", "/finance", true)]
    [InlineData("+", "/finance", false)]
    [InlineData("a/+/c", "a//c", true)]
    [InlineData("a/b", "a/b", true)]
    [InlineData("a/b", "a/B", false)]
    [InlineData("a/b", "a/b/", false)]
    [InlineData("a/b/", "a/b/", true)]
    [InlineData("a/+", "a/b/c", false)]
    [InlineData("a/+/#", "a/b", true)]
    [InlineData("a/+/#", "a", false)]
    public void Matches_follows_the_mqtt_wildcard_rules(string filter, string topic, bool expected) =>
        Assert.Equal(expected, TopicFilter.Matches(filter, topic));

    [Theory]
    [InlineData("#", "$SYS/broker/load")]
    [InlineData("+/broker/load", "$SYS/broker/load")]
    public void Wildcards_at_the_first_level_do_not_match_broker_topics(string filter, string topic) =>
        Assert.False(TopicFilter.Matches(filter, topic));

    [Fact]
    public void A_filter_naming_the_dollar_level_matches_broker_topics() =>
        Assert.True(TopicFilter.Matches("$SYS/#", "$SYS/broker/load"));

    [Theory]
    [InlineData("")]
    [InlineData("a/b#")]
    [InlineData("a/#/b")]
    [InlineData("a+/b")]
    [InlineData("a/++")]
    [InlineData("##")]
    public void Invalid_filters_are_refused(string filter)
    {
        Assert.False(TopicFilter.IsValid(filter));
        var ex = Assert.Throws<ArgumentException>(() => TopicFilter.Matches(filter, "a/b"));
        Assert.Contains("not a valid topic filter", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a/#")]
    [InlineData("+/+/+")]
    [InlineData("/")]
    [InlineData("a//b")]
    public void Valid_filters_are_accepted(string filter) => Assert.True(TopicFilter.IsValid(filter));

    [Theory]
    [InlineData("")]
    [InlineData("a/+")]
    [InlineData("a/#")]
    public void Topics_with_wildcards_or_empty_are_refused(string topic) =>
        Assert.Throws<ArgumentException>(() => TopicFilter.Matches("#", topic));
}
